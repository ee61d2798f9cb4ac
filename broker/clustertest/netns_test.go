package clustertest_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"runnel/broker/clustertest"
)

// needNamespaces skips the test where network namespaces cannot be made
// (not root, no iproute2), or fails it under RUNNEL_REQUIRE_NETNS=1, as
// .ci/run sets, so that CI cannot pass by skipping the fault tests.
func needNamespaces(t *testing.T) {
	t.Helper()
	if err := clustertest.NamespacesAvailable(); err != nil {
		if os.Getenv("RUNNEL_REQUIRE_NETNS") == "1" {
			t.Fatalf("RUNNEL_REQUIRE_NETNS=1: %v", err)
		}
		t.Skipf("%v: the network fault tests need root and iproute2's ip and tc (RUNNEL_REQUIRE_NETNS=1 makes this a failure)", err)
	}
}

// dialTimeout bounds a connect in the namespace tests: across a bridge on
// one machine a connect takes well under a millisecond, so a connect
// still pending after it had its SYNs dropped.
const dialTimeout = 700 * time.Millisecond

// dialEnv names the address TestDialHelper dials when the test binary runs
// as a helper in a node's namespace.
const dialEnv = "RUNNEL_CLUSTERTEST_DIAL"

// TestDialHelper is not a test: run by dialFrom in a node's namespace, it
// connects to $RUNNEL_CLUSTERTEST_DIAL and prints how that went.
func TestDialHelper(t *testing.T) {
	addr := os.Getenv(dialEnv)
	if addr == "" {
		t.Skip("the helper process of the namespace tests")
	}
	fmt.Println("dial:", dial(addr))
}

// dial connects to addr and says "connected", "timeout" (nothing came
// back: a silent drop) or the error (refused, unreachable: not silent).
func dial(addr string) string {
	conn, err := net.DialTimeout("tcp", addr, dialTimeout)
	var netErr net.Error
	switch {
	case err == nil:
		conn.Close()
		return "connected"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	default:
		return err.Error()
	}
}

// dialFrom connects from node i's namespace (clustertest.Clients: this
// process's) to addr.
func dialFrom(t *testing.T, c *clustertest.Cluster, i int, addr string) string {
	t.Helper()
	if i == clustertest.Clients {
		return dial(addr)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := c.Command(i, self, "-test.run=^TestDialHelper$", "-test.count=1")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), dialEnv+"="+addr)
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if got, ok := strings.CutPrefix(line, "dial: "); ok {
			return got
		}
	}
	t.Fatalf("the dial helper in node %d's namespace: %v\n%s", c.Node(i).ID, err, out)
	return ""
}

// wantDial checks, for each pair (from, to node), what a connect from
// from's namespace to to's client listener does.
func wantDial(t *testing.T, c *clustertest.Cluster, when string, want map[[2]int]string) {
	t.Helper()
	for pair, w := range want {
		if got := dialFrom(t, c, pair[0], c.Node(pair[1]).Addr); got != w {
			t.Errorf("%s: a connect from %s to node %d: %s, want %s", when, name(c, pair[0]), c.Node(pair[1]).ID, got, w)
		}
	}
}

func name(c *clustertest.Cluster, i int) string {
	if i == clustertest.Clients {
		return "the clients"
	}
	return fmt.Sprintf("node %d", c.Node(i).ID)
}

// apiVersionsV0 is an ApiVersions v0 request frame (size 10, api key 18,
// version 0, correlation id 7, null client id): a request any broker
// answers, written by hand so that the test sees the TCP connection itself,
// not a client's retries.
var apiVersionsV0 = []byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff}

// askApiVersions sends ApiVersions on conn and waits up to timeout for the
// answer's size field.
func askApiVersions(conn net.Conn, timeout time.Duration) error {
	if _, err := conn.Write(apiVersionsV0); err != nil {
		return err
	}
	conn.SetReadDeadline(time.Now().Add(timeout))
	var size [4]byte
	_, err := io.ReadFull(conn, size[:])
	if err == nil {
		_, err = io.CopyN(io.Discard, conn, int64(binary.BigEndian.Uint32(size[:])))
	}
	return err
}

// TestNamespacesCutIsolateHeal checks the fault harness itself: three nodes
// in namespaces reach each other and the clients; a Cut between two stops
// their connects in both directions, silently (they time out rather than
// fail), and leaves every other link; cutting a node from the clients
// stalls an open connection without breaking it, so that after Heal it
// carries the answer; Isolate cuts a node from the others but not from the
// clients; Close removes the bridge and the namespaces.
func TestNamespacesCutIsolateHeal(t *testing.T) {
	needNamespaces(t)
	c, err := clustertest.Start(clustertest.Options{Test: t, Namespaces: true})
	if err != nil {
		t.Fatal(err)
	}
	// ip netns exec execs the node in place: the pid Kill and Stop signal
	// is the broker's, in a namespace of its own.
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Len() {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c.Pid(i)))
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", c.Pid(i)))
		if strings.TrimSpace(string(comm)) != "runnel" || ns == self || ns == "" {
			t.Errorf("node %d: pid %d is %q in network namespace %q (the test's: %s)", c.Node(i).ID, c.Pid(i), comm, ns, self)
		}
	}
	cl := clustertest.Clients
	all := map[[2]int]string{{0, 1}: "connected", {1, 0}: "connected", {0, 2}: "connected", {2, 1}: "connected",
		{cl, 0}: "connected", {cl, 1}: "connected", {cl, 2}: "connected"}
	wantDial(t, c, "before any fault", all)
	if ip := c.ClientsIP(); !strings.HasPrefix(ip, "10.213.") || !strings.HasPrefix(c.Node(0).Addr, strings.TrimSuffix(ip, "254")) {
		t.Errorf("clients on %s, node 1 on %s: want one 10.213.N.0/24", ip, c.Node(0).Addr)
	}

	if err := c.Cut(0, 1); err != nil {
		t.Fatal(err)
	}
	wantDial(t, c, "cut 1-2", map[[2]int]string{{0, 1}: "timeout", {1, 0}: "timeout", {0, 2}: "connected", {2, 1}: "connected",
		{cl, 0}: "connected", {cl, 1}: "connected"})

	conn, err := net.DialTimeout("tcp", c.Node(2).Addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := askApiVersions(conn, 5*time.Second); err != nil {
		t.Fatalf("ApiVersions to node 3 before its cut: %v", err)
	}
	if err := c.Cut(2, cl); err != nil {
		t.Fatal(err)
	}
	if err := askApiVersions(conn, time.Second); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ApiVersions on an open connection to node 3 cut from the clients: %v, want no answer and no error", err)
	}
	wantDial(t, c, "cut 1-2 and 3-clients", map[[2]int]string{{cl, 2}: "timeout", {cl, 0}: "connected", {2, 0}: "connected"})

	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	// The request sent into the cut is retransmitted once the link is back
	// (TCP's backoff doubles from 200 ms, hence the wait), and its answer
	// arrives on the same connection.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		t.Errorf("the answer to ApiVersions sent into the cut, after Heal: %v", err)
	}
	wantDial(t, c, "after Heal", all)

	if err := c.Isolate(1); err != nil {
		t.Fatal(err)
	}
	wantDial(t, c, "node 2 isolated", map[[2]int]string{{1, 0}: "timeout", {1, 2}: "timeout", {0, 1}: "timeout", {2, 1}: "timeout",
		{0, 2}: "connected", {cl, 1}: "connected"})
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	wantDial(t, c, "after the second Heal", all)

	// A delayed link still connects; the clients' links are not delayed.
	if err := c.Delay(0, 1, 50*time.Millisecond); errors.Is(err, clustertest.ErrNoNetem) {
		t.Logf("no delay on this kernel: %v", err)
	} else if err != nil {
		t.Fatal(err)
	} else {
		wantDial(t, c, "1-2 delayed", map[[2]int]string{{0, 1}: "connected", {cl, 0}: "connected"})
	}
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}

	bridge := fmt.Sprintf("rnl213br%s", strings.Split(c.ClientsIP(), ".")[2])
	if _, err := net.InterfaceByName(bridge); err != nil {
		t.Fatalf("bridge %s while the cluster runs: %v", bridge, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.InterfaceByName(bridge); err == nil {
		t.Errorf("bridge %s still there after Close", bridge)
	}
	namespaces, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if prefix := "rnl213-" + strings.TrimPrefix(bridge, "rnl213br") + "-"; strings.Contains(string(namespaces), prefix) {
		t.Errorf("namespaces %s* after Close:\n%s", prefix, namespaces)
	}
}

// abandonEnv makes the test binary TestAbandonHelper; its value is the
// runnel binary the helper runs.
const abandonEnv = "RUNNEL_CLUSTERTEST_ABANDON"

// TestAbandonHelper is not a test: run by TestNamespacesOfAKilledProcess,
// it starts a cluster in namespaces, prints its clients' address and
// waits to be killed.
func TestAbandonHelper(t *testing.T) {
	bin := os.Getenv(abandonEnv)
	if bin == "" {
		t.Skip("the helper process of TestNamespacesOfAKilledProcess")
	}
	c, err := clustertest.Start(clustertest.Options{Nodes: 1, Namespaces: true, Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("clients:", c.ClientsIP())
	select {}
}

// TestNamespacesOfAKilledProcess kills (SIGKILL) a process that runs a
// cluster in namespaces, which therefore cannot clean up: the next
// cluster started in namespaces removes its bridge and namespaces.
func TestNamespacesOfAKilledProcess(t *testing.T) {
	needNamespaces(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The helper runs the binary this process built: a build of its own
	// (a link, on a cache hit) took the helper past its timeout on a
	// loaded machine.
	bin, err := clustertest.Build()
	if err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(self, "-test.run=^TestAbandonHelper$", "-test.count=1", "-test.timeout=60s")
	helper.Env = append(os.Environ(), abandonEnv+"="+bin)
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	helper.Stderr = &stderr
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer helper.Process.Kill()
	var clientsIP string
	var printed []string // what the helper printed before the address
	lines := bufio.NewScanner(out)
	for clientsIP == "" && lines.Scan() {
		clientsIP, _ = strings.CutPrefix(lines.Text(), "clients: ")
		printed = append(printed, lines.Text())
	}
	if clientsIP == "" {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("the helper printed no clients' address (%v); its output:\n%s\n%s", lines.Err(), strings.Join(printed, "\n"), stderr.Bytes())
	}
	bridge := "rnl213br" + strings.Split(clientsIP, ".")[2]
	if _, err := net.InterfaceByName(bridge); err != nil {
		t.Fatalf("the helper's bridge %s: %v", bridge, err)
	}
	helper.Process.Kill()
	helper.Wait()
	if _, err := net.InterfaceByName(bridge); err != nil {
		t.Fatalf("the killed helper's bridge %s is gone already (%v): nothing to test", bridge, err)
	}
	if _, err := clustertest.Start(clustertest.Options{Test: t, Nodes: 1, Namespaces: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := net.InterfaceByName(bridge); err == nil {
		t.Errorf("the killed helper's bridge %s is still there after another cluster started", bridge)
	}
}

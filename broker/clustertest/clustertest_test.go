package clustertest_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/clustertest"
	"runnel/internal/wait"
)

// TestNodesServeKillRestartAndAddBroker starts three combined nodes,
// produces to and consumes from each, kills one and restarts it (its
// acknowledged records are back), stops one cleanly, and adds a
// broker-only fourth. The nodes are one cluster: each waits until every
// node lists the others (a node answers before it has registered, and
// an auto-creation then finds no broker), a killed one is fenced after a
// short session.
func TestNodesServeKillRestartAndAddBroker(t *testing.T) {
	c, err := clustertest.Start(clustertest.Options{Test: t, Ready: clustertest.MetadataListsAllBrokers,
		Properties: []string{"broker.session.timeout.ms=2000", "broker.heartbeat.interval.ms=200"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 3 {
		t.Fatalf("%d nodes, want 3", c.Len())
	}
	for i, n := range c.Nodes() {
		if n.ID != int32(i+1) || !n.Controller() || n.Addr == n.ControllerAddr {
			t.Errorf("node %d: %+v, want id %d, a combined node with two listeners", i, n, i+1)
		}
		produce(t, c, i, 3)
		consume(t, c, i, 3)
	}

	if err := c.Kill(1); err != nil {
		t.Fatal(err)
	}
	if c.Running(1) {
		t.Fatal("node 2 runs after Kill")
	}
	if _, err := c.Request(context.Background(), 1, kmsg.NewPtrApiVersionsRequest()); err == nil {
		t.Fatal("a killed node answered ApiVersions")
	}
	if err := c.WaitReady(context.Background()); err != nil {
		t.Fatalf("WaitReady with a node killed: %v", err)
	}
	if err := c.Restart(1); err != nil {
		t.Fatal(err)
	}
	consume(t, c, 1, 3)

	if err := c.Stop(2); err != nil {
		t.Fatalf("a clean stop: %v", err)
	}
	if err := c.Restart(2); err != nil {
		t.Fatal(err)
	}
	consume(t, c, 2, 3)

	i, err := c.AddBroker()
	if err != nil {
		t.Fatal(err)
	}
	n := c.Node(i)
	if i != 3 || n.ID != 4 || n.Controller() {
		t.Fatalf("added node %d: %+v, want index 3, id 4, broker-only", i, n)
	}
	props, err := os.ReadFile(n.PropertiesFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"process.roles=broker\n", "listeners=PLAINTEXT://" + n.Addr + "\n", "controller.quorum.voters=1@" + c.Node(0).ControllerAddr + ","} {
		if !strings.Contains(string(props), line) {
			t.Errorf("%s lacks %q:\n%s", n.PropertiesFile, line, props)
		}
	}
	produce(t, c, i, 2)
	consume(t, c, i, 2)
	if got := len(c.Bootstrap()); got != 4 {
		t.Errorf("Bootstrap lists %d addresses, want 4", got)
	}
}

// TestMetadataListsAllBrokers waits for the Metadata condition on one
// combined node, which lists itself.
func TestMetadataListsAllBrokers(t *testing.T) {
	c, err := clustertest.Start(clustertest.Options{Nodes: 1, Ready: clustertest.MetadataListsAllBrokers, Test: t})
	if err != nil {
		t.Fatal(err)
	}
	if err := clustertest.MetadataListsAllBrokers(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// TestWaitReadyReportsANodeThatDied: a node killed behind the harness's
// back fails WaitReady at once, naming it, and Restart brings it back.
func TestWaitReadyReportsANodeThatDied(t *testing.T) {
	c, err := clustertest.Start(clustertest.Options{Nodes: 2, Test: t})
	if err != nil {
		t.Fatal(err)
	}
	pid := c.Pid(1)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "node 2 to exit", func() bool { return !c.Running(1) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err == nil || !strings.Contains(err.Error(), "node 2 exited") {
		t.Fatalf("WaitReady with node 2 dead: %v, want an error naming it", err)
	}
	if ctx.Err() != nil {
		t.Fatal("WaitReady waited for its deadline instead of reporting the dead node")
	}
	if err := c.Restart(1); err != nil {
		t.Fatal(err)
	}
	if c.Pid(1) == pid || c.Pid(1) == 0 {
		t.Fatalf("node 2's pid after Restart is %d (was %d)", c.Pid(1), pid)
	}
}

// TestStartReportsANodeThatExits: a node that stops at startup fails
// Start at once, with its log's tail in the error.
func TestStartReportsANodeThatExits(t *testing.T) {
	start := time.Now()
	_, err := clustertest.Start(clustertest.Options{Nodes: 2, NodeProperties: map[int][]string{1: {"num.partitions=0"}}, Test: t})
	if err == nil {
		t.Fatal("Start succeeded with a node whose num.partitions is 0")
	}
	for _, want := range []string{"node 2 exited", `bad value "0" for num.partitions`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start's error lacks %q:\n%v", want, err)
		}
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Start took %v to report an exited node", d)
	}
}

// TestStartGivesUpOnATakenPort: a node whose port is taken fails Start
// (after the attempts with other ports, which here take the same one).
func TestStartGivesUpOnATakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = clustertest.Start(clustertest.Options{Nodes: 1, Properties: []string{"runnel.admin.listener=" + ln.Addr().String()}, Test: t})
	if err == nil || !strings.Contains(err.Error(), "a port was taken") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start with a taken port: %v", err)
	}
}

// childEnv makes the test binary, run by TestNoNodeOutlivesItsProcess,
// start a node, print its pid and wait to be killed.
const childEnv = "CLUSTERTEST_CHILD_BINARY"

// TestNoNodeOutlivesItsProcess SIGKILLs a process that started a node,
// and sees the node go too (Pdeathsig), leaving no orphan broker.
func TestNoNodeOutlivesItsProcess(t *testing.T) {
	if bin := os.Getenv(childEnv); bin != "" {
		c, err := clustertest.Start(clustertest.Options{Nodes: 1, Binary: bin})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("pid %d dir %s\n", c.Pid(0), c.Node(0).DataDir)
		io.Copy(io.Discard, os.Stdin) // until the parent kills this process
		return
	}
	bin, err := clustertest.Build()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^TestNoNodeOutlivesItsProcess$", "-test.count=1")
	child.Env = append(os.Environ(), childEnv+"="+bin)
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	printed := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "pid ") {
				printed <- sc.Text()
			}
		}
		close(printed)
	}()
	var pid int
	var dir string
	select {
	case line := <-printed:
		fmt.Sscanf(line, "pid %d dir %s", &pid, &dir)
	case <-time.After(60 * time.Second):
	}
	if pid == 0 {
		child.Process.Kill()
		t.Fatalf("the child printed no node pid (%v)", child.Wait())
	}
	defer os.RemoveAll(strings.TrimSuffix(dir, "/node-1"))
	if !alive(pid) {
		t.Fatalf("node pid %d is not running before its parent is killed", pid)
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	wait.Until(t, 10*time.Second, fmt.Sprintf("node pid %d to die with its parent", pid), func() bool { return !alive(pid) })
}

// alive reports whether pid is a process that has not exited (a zombie
// waiting to be reaped has).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

// topic is the topic produce and consume use on node i.
func topic(i int) string { return "t-node-" + strconv.Itoa(i) }

// produce writes n records to node i's topic, acks=all (the default),
// creating the topic.
func produce(t *testing.T, c *clustertest.Cluster, i, n int) {
	t.Helper()
	cl, err := c.Client(kgo.SeedBrokers(c.Node(i).Addr), kgo.DefaultProduceTopic(topic(i)), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for k := range n {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("node %d record %d", i, k))).FirstErr(); err != nil {
			t.Fatalf("produce to node %d: %v", c.Node(i).ID, err)
		}
	}
}

// consume reads node i's topic from the start and wants exactly the n
// records produce wrote.
func consume(t *testing.T, c *clustertest.Cluster, i, n int) {
	t.Helper()
	cl, err := c.Client(kgo.SeedBrokers(c.Node(i).Addr), kgo.ConsumeTopics(topic(i)), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume from node %d: %d of %d records (%v)", c.Node(i).ID, len(got), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s-%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for k, v := range got {
		if want := fmt.Sprintf("node %d record %d", i, k); v != want {
			t.Errorf("node %d: record %d is %q, want %q", c.Node(i).ID, k, v, want)
		}
	}
}

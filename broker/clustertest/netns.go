package clustertest

// Network namespaces (Options.Namespaces): each node runs in a network
// namespace of its own, joined to the others by a veth pair to one bridge
// in the root namespace, so that a test can cut and slow the links between
// nodes, and between a node and the clients, without anything leaving the
// machine.
//
//	root namespace (the test process, the clients)
//	  bridge rnl213br<N>, 10.213.N.254/24
//	    ├── rnl<N>v1 ⇄ eth0 in namespace rnl213-<N>-1, 10.213.N.1 (node.id 1)
//	    ├── rnl<N>v2 ⇄ eth0 in namespace rnl213-<N>-2, 10.213.N.2
//	    └── …
//
// N is claimed per cluster by creating the bridge (an atomic operation of
// the kernel), so clusters of tests running in parallel, in one process or
// several, get distinct subnets. Every node listens on its namespace's
// address with fixed ports (clientPort, controllerPort, adminPort): the
// namespaces do not share ports. The clients reach the nodes from the root
// namespace through the bridge, with the bridge's address as their source.
//
// A fault is a rule on a sending interface: a root HTB qdisc (the kernel
// this was written on has neither prio nor netem, but HTB and u32 are
// common), a default class that passes, and per rule a class whose leaf
// drops everything (pfifo limit 0) or delays it (netem, where the kernel
// has it), chosen by a u32 filter on the destination address. A drop on
// the sender's queue is silent: TCP retransmits into it, a connect times
// out, as across a real partition (a blackhole route would answer
// EINVAL, an unreachable one an ICMP error). Traffic between nodes leaves
// through each node's eth0; traffic from the clients to a node leaves
// through the bridge device (bridged traffic between two nodes does not
// pass the bridge device's own queue).

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Clients stands for the test process, the clients, in Cut and Delay: the
// root namespace, which reaches the nodes through the bridge.
const Clients = -1

// The ports every node listens on, in its own namespace.
const (
	clientPort     = 9092
	controllerPort = 9093
	adminPort      = 9644
)

// ErrNoNamespaces is NamespacesAvailable's error, and Start's with
// Options.Namespaces where namespaces cannot be made.
var ErrNoNamespaces = errors.New("clustertest: network namespaces unavailable")

// ErrNoNetem is Delay's error where the kernel has no netem qdisc.
var ErrNoNetem = errors.New("clustertest: the kernel has no netem qdisc (sch_netem), so no delay")

// NamespacesAvailable says why Options.Namespaces cannot work here (nil
// when it can): it needs root, iproute2's ip and tc.
func NamespacesAvailable() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not root (uid %d)", ErrNoNamespaces, os.Geteuid())
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: no %s (iproute2): %w", ErrNoNamespaces, tool, err)
		}
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		return fmt.Errorf("%w: ip netns list: %v: %s", ErrNoNamespaces, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// network is a cluster's bridge, namespaces and fault rules.
type network struct {
	subnet int // N of 10.213.N.0/24
	bridge string

	mu      sync.Mutex
	nodes   []int32            // node ids whose namespaces were made, removed by close
	devices map[device]*faults // interfaces holding fault rules
}

// device is an interface: its namespace ("" is the root one) and name.
type device struct{ ns, name string }

// faults are the rules on one device: the classes added after the default
// one.
type faults struct{ classes int }

// bridgeAlias marks a bridge as this package's, with the pid of the
// process that made it, so that a later process can remove what a killed
// one left behind.
const bridgeAlias = "runnel clustertest pid "

// newNetwork claims a subnet by creating its bridge and brings it up with
// the clients' address.
func newNetwork() (*network, error) {
	if err := NamespacesAvailable(); err != nil {
		return nil, err
	}
	removeAbandoned()
	start := rand.IntN(250)
	for k := range 250 {
		n := &network{subnet: 1 + (start+k)%250, devices: map[device]*faults{}}
		n.bridge = bridgeName(n.subnet)
		if err := ip("link", "add", "name", n.bridge, "type", "bridge"); err != nil {
			continue // taken by another cluster
		}
		err := errors.Join(
			ip("link", "set", "dev", n.bridge, "alias", bridgeAlias+strconv.Itoa(os.Getpid())),
			ip("addr", "add", n.clientsIP()+"/24", "dev", n.bridge),
			ip("link", "set", "dev", n.bridge, "up"),
		)
		if err != nil {
			return nil, errors.Join(err, n.close())
		}
		return n, nil
	}
	return nil, fmt.Errorf("%w: no free subnet 10.213.N.0/24 (every bridge rnl213brN exists)", ErrNoNamespaces)
}

func bridgeName(subnet int) string { return fmt.Sprintf("rnl213br%d", subnet) }

// removeAbandoned removes the bridges and namespaces of clusters whose
// process is gone: killed, it could not clean up (its nodes died with it,
// by Pdeathsig).
func removeAbandoned() {
	namespaces, _ := exec.Command("ip", "netns", "list").Output()
	for subnet := 1; subnet <= 250; subnet++ {
		bridge := bridgeName(subnet)
		alias, err := os.ReadFile("/sys/class/net/" + bridge + "/ifalias")
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(string(alias)), bridgeAlias))
		if err != nil || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		for _, line := range strings.Split(string(namespaces), "\n") {
			if name, _, _ := strings.Cut(line, " "); strings.HasPrefix(name, namespacePrefix(subnet)) {
				_ = ip("-n", name, "link", "del", "dev", "eth0") // and its peer
				_ = ip("netns", "del", name)
			}
		}
		_ = ip("link", "del", "dev", bridge)
	}
}

func namespacePrefix(subnet int) string { return fmt.Sprintf("rnl213-%d-", subnet) }

// clientsIP is the bridge's address, the clients' source address.
func (n *network) clientsIP() string { return fmt.Sprintf("10.213.%d.254", n.subnet) }

// nodeIP is the address of node.id id in its namespace.
func (n *network) nodeIP(id int32) string { return fmt.Sprintf("10.213.%d.%d", n.subnet, id) }

// namespace is the name of node.id id's namespace.
func (n *network) namespace(id int32) string {
	return namespacePrefix(n.subnet) + strconv.Itoa(int(id))
}

// hostSide is the root namespace's end of node.id id's veth pair.
func (n *network) hostSide(id int32) string { return fmt.Sprintf("rnl%dv%d", n.subnet, id) }

// addr is node.id id's host:port for port.
func (n *network) addr(id int32, port int) string {
	return net.JoinHostPort(n.nodeIP(id), strconv.Itoa(port))
}

// addNamespace makes node.id id's namespace, its veth pair to the bridge
// and its address.
func (n *network) addNamespace(id int32) error {
	if id < 1 || id > 253 {
		return fmt.Errorf("clustertest: node.id %d has no address in a /24 beside the bridge's", id)
	}
	ns := n.namespace(id)
	if err := ip("netns", "add", ns); err != nil {
		return err
	}
	n.mu.Lock()
	n.nodes = append(n.nodes, id)
	n.mu.Unlock()
	return errors.Join(
		ip("link", "add", n.hostSide(id), "type", "veth", "peer", "name", "eth0", "netns", ns),
		ip("link", "set", "dev", n.hostSide(id), "master", n.bridge, "up"),
		ip("-n", ns, "addr", "add", n.nodeIP(id)+"/24", "dev", "eth0"),
		ip("-n", ns, "link", "set", "dev", "eth0", "up"),
		ip("-n", ns, "link", "set", "dev", "lo", "up"),
	)
}

// command runs bin with args in node.id id's namespace.
func (n *network) command(id int32, bin string, args ...string) (string, []string) {
	return "ip", append([]string{"netns", "exec", n.namespace(id), bin}, args...)
}

// rule is one fault in one direction: what leaves from's side for to.
type rule struct {
	dev   device
	dstIP string
	delay time.Duration // 0: drop
}

// rules are the rules of a fault between a and b (node ids, or Clients),
// both directions.
func (n *network) rules(a, b int32, delay time.Duration) ([]rule, error) {
	if a == b {
		return nil, fmt.Errorf("clustertest: a fault between node %d and itself", a)
	}
	side := func(from, to int32) rule {
		if from == Clients {
			return rule{dev: device{"", n.bridge}, dstIP: n.nodeIP(to), delay: delay}
		}
		dst := n.clientsIP()
		if to != Clients {
			dst = n.nodeIP(to)
		}
		return rule{dev: device{n.namespace(from), "eth0"}, dstIP: dst, delay: delay}
	}
	return []rule{side(a, b), side(b, a)}, nil
}

// add installs rules, each on its device after the ones there.
func (n *network) add(rules []rule) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range rules {
		f, ok := n.devices[r.dev]
		if !ok {
			// Root HTB: unmatched traffic goes to class 1:1, which passes
			// at any rate a test reaches.
			err := tc(r.dev, "qdisc", "add", "dev", r.dev.name, "root", "handle", "1:", "htb", "default", "1")
			if err == nil {
				err = errors.Join(
					tc(r.dev, "class", "add", "dev", r.dev.name, "parent", "1:", "classid", "1:1", "htb", "rate", "100gbit", "quantum", "200000"),
					tc(r.dev, "qdisc", "add", "dev", r.dev.name, "parent", "1:1", "handle", "10:", "pfifo", "limit", "10000"),
				)
			}
			if err != nil {
				return err
			}
			f = &faults{}
			n.devices[r.dev] = f
		}
		f.classes++
		class := fmt.Sprintf("1:%x", 1+f.classes)
		leaf := []string{"pfifo", "limit", "0"} // drops every packet
		if r.delay > 0 {
			leaf = []string{"netem", "delay", fmt.Sprintf("%dus", r.delay.Microseconds()), "limit", "10000"}
		}
		err := tc(r.dev, "class", "add", "dev", r.dev.name, "parent", "1:", "classid", class, "htb", "rate", "100gbit", "quantum", "200000")
		if err == nil {
			err = tc(r.dev, append([]string{"qdisc", "add", "dev", r.dev.name, "parent", class, "handle", fmt.Sprintf("%x:", 16+f.classes)}, leaf...)...)
			if err != nil && r.delay > 0 && strings.Contains(err.Error(), "qdisc kind is unknown") {
				err = fmt.Errorf("%w: %w", ErrNoNetem, err)
			}
		}
		if err == nil {
			err = tc(r.dev, "filter", "add", "dev", r.dev.name, "parent", "1:", "protocol", "ip", "prio", "1",
				"u32", "match", "ip", "dst", r.dstIP+"/32", "flowid", class)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// heal removes every rule: each device's root qdisc.
func (n *network) heal() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for dev := range n.devices {
		if err := tc(dev, "qdisc", "del", "dev", dev.name, "root"); err != nil {
			errs = append(errs, err)
		}
		delete(n.devices, dev)
	}
	return errors.Join(errs...)
}

// close removes the rules, the veth pairs, the namespaces and the bridge.
// The nodes must have exited. The veth pairs are deleted first: a deleted
// namespace's interfaces go only once the kernel lets the namespace go,
// which sockets closed by a kill (TIME_WAIT and the like) may delay.
func (n *network) close() error {
	errs := []error{n.heal()}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, id := range n.nodes {
		errs = append(errs, ip("link", "del", "dev", n.hostSide(id)), ip("netns", "del", n.namespace(id)))
	}
	n.nodes = nil
	errs = append(errs, ip("link", "del", "dev", n.bridge))
	return errors.Join(errs...)
}

// ip runs iproute2's ip; its error carries the output.
func ip(args ...string) error { return run("ip", args...) }

// tc runs tc in dev's namespace.
func tc(dev device, args ...string) error {
	if dev.ns != "" {
		args = append([]string{"-n", dev.ns}, args...)
	}
	return run("tc", args...)
}

func run(bin string, args ...string) error {
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("clustertest: %s %s: %v: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Cut drops every packet between nodes a and b (indexes; Clients for the
// test process), both directions, silently, until Heal. Cutting a node
// from the clients leaves its links to the other nodes.
func (c *Cluster) Cut(a, b int) error {
	return c.fault(a, b, 0)
}

// Isolate cuts node i from every other node, but not from the clients: a
// split brain, in which it still answers clients as it did.
func (c *Cluster) Isolate(i int) error {
	for j := range c.Len() {
		if j != i {
			if err := c.Cut(i, j); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delay delays every packet between a and b (indexes; Clients for the test
// process) by d each way, until Heal. It needs the kernel's netem
// (ErrNoNetem otherwise).
func (c *Cluster) Delay(a, b int, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("clustertest: delay %v", d)
	}
	return c.fault(a, b, d)
}

func (c *Cluster) fault(a, b int, delay time.Duration) error {
	if c.net == nil {
		return errors.New("clustertest: faults need Options.Namespaces")
	}
	id := func(i int) int32 {
		if i == Clients {
			return Clients
		}
		return c.Node(i).ID
	}
	rules, err := c.net.rules(id(a), id(b), delay)
	if err != nil {
		return err
	}
	return c.net.add(rules)
}

// Heal removes every fault Cut, Isolate and Delay made.
func (c *Cluster) Heal() error {
	if c.net == nil {
		return nil
	}
	return c.net.heal()
}

// ClientsIP is the address the clients' connections come from, with
// Options.Namespaces ("" without).
func (c *Cluster) ClientsIP() string {
	if c.net == nil {
		return ""
	}
	return c.net.clientsIP()
}

// Command is bin with args to run in node i's namespace, for a test's own
// processes beside the node's (Options.Namespaces).
func (c *Cluster) Command(i int, bin string, args ...string) (*exec.Cmd, error) {
	if c.net == nil {
		return nil, errors.New("clustertest: Command needs Options.Namespaces")
	}
	name, args := c.net.command(c.Node(i).ID, bin, args...)
	return exec.Command(name, args...), nil
}

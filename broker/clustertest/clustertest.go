// Package clustertest starts a Runnel cluster on one machine for tests and
// benchmarks: N `runnel serve` processes on 127.0.0.1, each with its own
// properties file, data directory and free ports (a client listener and, on
// a controller, a controller listener), that a test can kill, stop and
// restart.
//
//	c, err := clustertest.Start(clustertest.Options{Test: t}) // 3 combined nodes
//	if err != nil {
//		t.Fatal(err)
//	}
//	cl, err := c.Client(kgo.DefaultProduceTopic("t"))
//	...
//	c.Kill(1)    // SIGKILL node.id 2
//	c.Restart(1) // same data directory, same ports, waits until ready
//
// With Options.Namespaces each node runs in a network namespace of its
// own (netns.go), and Cut, Isolate and Delay fail the links between nodes,
// or between a node and the clients (Clients), silently until Heal.
//
// StartWorkload runs idempotent acks=all producers that record every
// acknowledged record (Ack); VerifyHistory reads the partitions back and
// CheckHistory reports what was lost, duplicated or reordered;
// ReplicaLogs and CompareReplicas read every replica's segment files and
// report the offsets where two replicas hold different batches.
//
// Cluster.ActiveController finds the active controller with DescribeQuorum;
// with Options.Admin, EqualImages (a Ready for WaitFor) holds when every
// node serves the same metadata image (/v1/metadata's hash).
//
// Nodes are numbered by index i from 0; node i has node.id i+1. The first
// Options.Nodes are combined nodes (process.roles=broker,controller), the
// voters of controller.quorum.voters; Options.BrokerOnly and AddBroker add
// broker-only nodes after them. The cluster's directory holds each node's
// properties file (node-<id>.properties) and data directory (node-<id>/,
// its log.dirs), in which runnel.log is the process's stdout and stderr,
// appended to across restarts.
//
// The package does not import testing, so that bench/ can use it: a test
// passes itself as Options.Test, and the cluster is then closed in the
// test's cleanup, with the tails of the nodes' logs in the test log when
// the test failed. Start's error carries the tails too.
//
// No broker outlives the process that started it: Close kills every node,
// and each node is started with Pdeathsig=SIGKILL from a thread that lives
// as long as the process, so that the kernel kills the nodes when the
// process ends, however it ends (a test binary killed by a timeout or by
// SIGKILL included).
package clustertest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Options configure Start. The zero value is three combined nodes built
// from this checkout, ready when each answers ApiVersions.
type Options struct {
	// Nodes is the number of combined nodes (process.roles=broker,controller),
	// node.id 1 to Nodes, which are the controller quorum's voters; 0 means 3.
	Nodes int
	// BrokerOnly adds this many broker-only nodes (process.roles=broker)
	// after them.
	BrokerOnly int
	// Properties are key=value settings of every node, over the harness's
	// defaults (small preallocation, no admin listener, see defaults);
	// NodeProperties[i] are node i's, over those. Keys the harness sets
	// per node (listeners, node.id, log.dirs, the quorum's, the cluster id) can be
	// overridden, but Node's addresses then say what the harness chose.
	Properties     []string
	NodeProperties map[int][]string
	// Admin gives every node an admin listener (runnel.admin.listener:
	// /metrics, /debug/pprof/, /healthz) on a free port, Node.AdminAddr.
	Admin bool
	// Binary is the runnel binary to run; "" builds runnel/cmd/runnel once
	// per process (Build).
	Binary string
	// Dir holds the nodes' files; "" is a new temporary directory, removed
	// by Close unless KeepDirs. A given Dir is never removed.
	Dir      string
	KeepDirs bool
	// Ready is the condition WaitReady waits for; nil is AnswersApiVersions.
	Ready Ready
	// Timeout bounds how long Start, AddBroker and Restart wait for Ready,
	// and Stop for a node to exit; 0 means 30 s.
	Timeout time.Duration
	// LogLevel is the nodes' --log-level; "" is info.
	LogLevel string
	// Test, a *testing.T or *testing.B, closes the cluster in its cleanup
	// and, when the test failed, logs the tails of the nodes' logs.
	Test TB
	// Namespaces runs each node in a network namespace of its own, on
	// 10.213.N.<node.id> (netns.go), so that Cut, Isolate and Delay can
	// fail the network between nodes and between a node and the clients.
	// It needs root and iproute2 (NamespacesAvailable); Close removes the
	// namespaces, the bridge and every fault.
	Namespaces bool
}

// TB is what the harness uses of a testing.TB.
type TB interface {
	Cleanup(func())
	Failed() bool
	Logf(format string, args ...any)
}

// defaults keep test nodes small and quiet, as brokertest's: no admin
// listener, small preallocation, no retention pass during a test, a short
// clean stop.
var defaults = []string{
	"runnel.admin.listener=",
	"runnel.segment.preallocate.bytes=1048576",
	"log.retention.check.interval.ms=3600000",
	"runnel.shutdown.timeout.ms=5000",
}

// clusterID is every test cluster's id: its nodes must share one (each
// would make up its own, and the voters refuse each other's).
const clusterID = "runnelClusterTestNodes"

// controllerListener is the name of the nodes' controller listener.
const controllerListener = "CONTROLLER"

// logFileName is the node's stdout and stderr, in its data directory.
const logFileName = "runnel.log"

// Node is one broker process's identity. Its fields do not change over
// restarts.
type Node struct {
	ID int32
	// Addr is the client (PLAINTEXT) listener's host:port.
	Addr string
	// ControllerAddr is the controller listener's host:port, "" on a
	// broker-only node.
	ControllerAddr string
	// AdminAddr is the admin listener's host:port, "" unless Options.Admin.
	AdminAddr string
	// DataDir is the node's log.dirs; LogFile, in it, its stdout and stderr.
	DataDir string
	LogFile string
	// PropertiesFile is what `runnel serve` is given.
	PropertiesFile string
}

// Controller reports whether the node is a controller (a combined node).
func (n Node) Controller() bool { return n.ControllerAddr != "" }

// Cluster is a running set of nodes. Its methods may be called from
// several goroutines.
type Cluster struct {
	opts   Options
	dir    string
	voters string // controller.quorum.voters
	// clusterID is every node's runnel.cluster.id: as kafka-storage.sh
	// format gives every node the same id, since voters refuse a peer of
	// another cluster.
	clusterID string
	// net is the nodes' namespaces with Options.Namespaces, else nil.
	net *network

	mu     sync.Mutex
	nodes  []*node
	closed bool
}

// node is a Node with its process, if running, and a client for requests
// to it alone.
type node struct {
	Node
	client *kgo.Client
	proc   *process // nil when not running; guarded by Cluster.mu
}

// Start writes the nodes' properties files, starts them and waits until
// Options.Ready holds. On an error every node started is killed; the error
// carries the tails of the nodes' logs.
//
// The ports are found free, closed, then given to the nodes, so another
// process may take one in between: when a node fails to listen because
// its address is in use, Start tries again with other ports, up to
// portAttempts times.
func Start(o Options) (*Cluster, error) {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 0 || o.BrokerOnly < 0 {
		return nil, fmt.Errorf("clustertest: %d nodes and %d broker-only ones", o.Nodes, o.BrokerOnly)
	}
	if o.Ready == nil {
		o.Ready = AnswersApiVersions
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if o.Binary == "" {
		var err error
		if o.Binary, err = Build(); err != nil {
			return nil, err
		}
	}
	for attempt := 1; ; attempt++ {
		c, err := startOnce(o)
		if !errors.Is(err, errPortTaken) || attempt == portAttempts {
			return c, err
		}
	}
}

// portAttempts is how many times Start tries ports.
const portAttempts = 3

// errPortTaken is startOnce's error when a node could not listen on a port
// it was given.
var errPortTaken = errors.New("clustertest: a port was taken before its node listened")

func startOnce(o Options) (*Cluster, error) {
	c := &Cluster{opts: o, dir: o.Dir, clusterID: newClusterID()}
	if c.dir == "" {
		var err error
		if c.dir, err = os.MkdirTemp("", "runnel-cluster-"); err != nil {
			return nil, fmt.Errorf("clustertest: %w", err)
		}
	}
	if o.Test != nil {
		o.Test.Cleanup(func() {
			if o.Test.Failed() && !c.isClosed() {
				o.Test.Logf("clustertest: the nodes' logs (in %s):\n%s", c.dir, c.Logs())
			}
			if err := c.Close(); err != nil {
				o.Test.Logf("clustertest: %v", err)
			}
		})
	}
	var err error
	if o.Namespaces {
		c.net, err = newNetwork()
	}
	if err == nil {
		err = c.start(o)
	}
	if err == nil {
		return c, nil
	}
	logs := c.Logs()
	closeErr := c.Close()
	if strings.Contains(logs, "address already in use") {
		err = fmt.Errorf("%w: %w", errPortTaken, err)
		if o.Dir != "" { // the next attempt writes the same names
			for _, n := range c.Nodes() {
				os.RemoveAll(n.DataDir)
				os.Remove(n.PropertiesFile)
			}
		}
	}
	return nil, errors.Join(fmt.Errorf("%w\nthe nodes' logs (in %s):\n%s", err, c.dir, logs), closeErr)
}

func (c *Cluster) start(o Options) error {
	clientAddrs, controllerAddrs, err := c.listenAddrs(o.Nodes+o.BrokerOnly, o.Nodes)
	if err != nil {
		return err
	}
	var voters []string
	for i, addr := range controllerAddrs {
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, addr))
	}
	c.voters = strings.Join(voters, ",")
	for i, addr := range clientAddrs {
		controller := ""
		if i < o.Nodes {
			controller = controllerAddrs[i]
		}
		if _, err := c.addNode(addr, controller); err != nil {
			return err
		}
	}
	for i := range c.nodes {
		if err := c.startNode(i); err != nil {
			return err
		}
	}
	return c.waitReady()
}

// listenAddrs are the client addresses of n nodes after the existing ones
// and the controller addresses of the first controllers of them: free
// loopback ports, or with namespaces each node's address and fixed ports.
func (c *Cluster) listenAddrs(n, controllers int) (clientAddrs, controllerAddrs []string, err error) {
	first := int32(c.Len() + 1)
	if c.net != nil {
		for k := range int32(n) {
			clientAddrs = append(clientAddrs, c.net.addr(first+k, clientPort))
			if int(k) < controllers {
				controllerAddrs = append(controllerAddrs, c.net.addr(first+k, controllerPort))
			}
		}
		return clientAddrs, controllerAddrs, nil
	}
	ports, err := freePorts(n + controllers)
	if err != nil {
		return nil, nil, err
	}
	for k, p := range ports {
		if k < controllers {
			controllerAddrs = append(controllerAddrs, loopback(p))
		} else {
			clientAddrs = append(clientAddrs, loopback(p))
		}
	}
	return clientAddrs, controllerAddrs, nil
}

// AddBroker adds a broker-only node with extra key=value properties (over
// Options.Properties), starts it and waits until the cluster is ready; it
// returns the new node's index.
func (c *Cluster) AddBroker(props ...string) (int, error) {
	addrs, _, err := c.listenAddrs(1, 0)
	if err != nil {
		return 0, err
	}
	i, err := c.addNode(addrs[0], "", props...)
	if err != nil {
		return 0, err
	}
	if err := c.startNode(i); err != nil {
		return i, err
	}
	return i, c.waitReady()
}

// addNode writes node i's properties file and makes its data directory.
func (c *Cluster) addNode(addr, controllerAddr string, extra ...string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, errClosed
	}
	i := len(c.nodes)
	id := int32(i + 1)
	n := &node{Node: Node{
		ID:             id,
		Addr:           addr,
		ControllerAddr: controllerAddr,
		DataDir:        filepath.Join(c.dir, fmt.Sprintf("node-%d", id)),
		PropertiesFile: filepath.Join(c.dir, fmt.Sprintf("node-%d.properties", id)),
	}}
	n.LogFile = filepath.Join(n.DataDir, logFileName)
	if c.net != nil {
		if err := c.net.addNamespace(id); err != nil {
			return 0, err
		}
		if c.opts.Admin {
			n.AdminAddr = c.net.addr(id, adminPort)
		}
	} else if c.opts.Admin {
		ports, err := freePorts(1)
		if err != nil {
			return 0, err
		}
		n.AdminAddr = loopback(ports[0])
	}
	props := c.nodeProperties(n.Node)
	props = append(props, c.opts.NodeProperties[i]...)
	props = append(props, extra...)
	if err := os.MkdirAll(n.DataDir, 0o755); err != nil {
		return 0, fmt.Errorf("clustertest: %w", err)
	}
	if err := os.WriteFile(n.PropertiesFile, []byte(formatProperties(props)), 0o644); err != nil {
		return 0, fmt.Errorf("clustertest: %w", err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr))
	if err != nil {
		return 0, fmt.Errorf("clustertest: %w", err)
	}
	n.client = cl
	c.nodes = append(c.nodes, n)
	return i, nil
}

// nodeProperties are a node's settings before its NodeProperties: the
// defaults, the node's identity and listeners, then Options.Properties.
// RUNNEL_TEST_NET, as for brokertest, picks runnel.net.
func (c *Cluster) nodeProperties(n Node) []string {
	props := append([]string(nil), defaults...)
	if v := os.Getenv("RUNNEL_TEST_NET"); v != "" {
		props = append(props, "runnel.net="+v)
	}
	roles, listeners := "broker", "PLAINTEXT://"+n.Addr
	if n.Controller() {
		roles, listeners = "broker,controller", listeners+","+controllerListener+"://"+n.ControllerAddr
	}
	props = append(props,
		"process.roles="+roles,
		"node.id="+strconv.Itoa(int(n.ID)),
		"listeners="+listeners,
		"controller.listener.names="+controllerListener,
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,"+controllerListener+":PLAINTEXT",
		"inter.broker.listener.name=PLAINTEXT",
		"controller.quorum.voters="+c.voters,
		"runnel.cluster.id="+clusterID,
		"log.dirs="+n.DataDir,
		"runnel.cluster.id="+c.clusterID,
	)
	if n.AdminAddr != "" {
		props = append(props, "runnel.admin.listener="+n.AdminAddr)
	}
	return append(props, c.opts.Properties...)
}

// formatProperties writes key=value lines, a later value of a key
// replacing an earlier one in its place.
func formatProperties(props []string) string {
	var keys []string
	values := map[string]string{}
	for _, p := range props {
		k, v, _ := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if _, ok := values[k]; !ok {
			keys = append(keys, k)
		}
		values[k] = v
	}
	var b strings.Builder
	b.WriteString("# Written by runnel/broker/clustertest.\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, values[k])
	}
	return b.String()
}

var errClosed = errors.New("clustertest: cluster closed")

// Len is the number of nodes, running or not.
func (c *Cluster) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nodes)
}

// Node returns node i (index from 0; its ID is i+1).
func (c *Cluster) Node(i int) Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].Node
}

// Nodes returns every node.
func (c *Cluster) Nodes() []Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Node, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.Node
	}
	return out
}

// Running reports whether node i's process is running: started, and not
// stopped, killed or exited since.
func (c *Cluster) Running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].proc != nil && !c.nodes[i].proc.hasExited()
}

// Pid is node i's process id, 0 when it is not running.
func (c *Cluster) Pid(i int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.nodes[i].proc; p != nil && !p.hasExited() {
		return p.cmd.Process.Pid
	}
	return 0
}

// Bootstrap is every node's client address, for bootstrap.servers: a
// client tries them in turn, so a stopped node among them does no harm.
func (c *Cluster) Bootstrap() []string {
	var addrs []string
	for _, n := range c.Nodes() {
		addrs = append(addrs, n.Addr)
	}
	return addrs
}

// Client returns a franz-go client seeded with Bootstrap (opts may
// replace the seeds, kgo.SeedBrokers(c.Node(i).Addr) to talk to one
// node). With Options.Test it is closed in the test's cleanup, before the
// cluster; otherwise the caller closes it.
func (c *Cluster) Client(opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Bootstrap()...)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("clustertest: %w", err)
	}
	if c.opts.Test != nil {
		c.opts.Test.Cleanup(cl.Close)
	}
	return cl, nil
}

// Request sends req to node i alone, over a connection of the cluster's
// own (at the highest version both sides serve, as kgo negotiates), and
// returns its response. A node that is not running fails at once.
func (c *Cluster) Request(ctx context.Context, i int, req kmsg.Request) (kmsg.Response, error) {
	c.mu.Lock()
	n := c.nodes[i]
	c.mu.Unlock()
	seeds := n.client.SeedBrokers()
	resp, err := seeds[0].Request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("clustertest: node %d (%s): %w", n.ID, n.Addr, err)
	}
	return resp, nil
}

// WaitReady waits until Options.Ready holds, or a node exits that was not
// stopped or killed, or ctx is done.
func (c *Cluster) WaitReady(ctx context.Context) error {
	return c.WaitFor(ctx, c.opts.Ready)
}

// WaitFor waits until ready holds (nil), or a node exits that was not
// stopped or killed, or ctx is done; the error then says what ready said
// last.
func (c *Cluster) WaitFor(ctx context.Context, ready Ready) error {
	const maxPoll = 50 * time.Millisecond
	var last error
	for interval := time.Millisecond; ; interval = min(2*interval, maxPoll) {
		if err := c.unexpectedExit(); err != nil {
			return err
		}
		probe, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = ready(probe, c)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("clustertest: not ready (%v): %w", context.Cause(ctx), last)
		case <-time.After(interval):
		}
	}
}

// waitReady is WaitReady within Options.Timeout.
func (c *Cluster) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	return c.WaitReady(ctx)
}

// unexpectedExit is an error naming a node whose process exited on its
// own, with the tail of its log.
func (c *Cluster) unexpectedExit() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if p := n.proc; p != nil && p.hasExited() {
			return fmt.Errorf("clustertest: node %d exited (%v):\n%s", n.ID, p.err, Tail(n.LogFile, tailBytes))
		}
	}
	return nil
}

// runningNodes are the indexes of the running nodes.
func (c *Cluster) runningNodes() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var running []int
	for i, n := range c.nodes {
		if n.proc != nil && !n.proc.hasExited() {
			running = append(running, i)
		}
	}
	return running
}

// Kill sends node i SIGKILL and waits until it has exited.
func (c *Cluster) Kill(i int) error {
	p, err := c.takeProcess(i)
	if err != nil {
		return err
	}
	p.kill()
	<-p.exited
	return nil
}

// Stop sends node i SIGTERM and waits until it has exited (a clean stop);
// it is an error when the node exits with a status other than 0 or does
// not exit within Options.Timeout (it is then killed).
func (c *Cluster) Stop(i int) error {
	p, err := c.takeProcess(i)
	if err != nil {
		return err
	}
	if err := p.stop(c.opts.Timeout); err != nil {
		n := c.Node(i)
		return fmt.Errorf("clustertest: stop node %d: %w\n%s", n.ID, err, Tail(n.LogFile, tailBytes))
	}
	return nil
}

// Restart starts node i again over the same data directory and ports (a
// running node is stopped first, with SIGTERM) and waits until the
// cluster is ready.
func (c *Cluster) Restart(i int) error {
	if c.Running(i) {
		if err := c.Stop(i); err != nil {
			return err
		}
	}
	if err := c.startNode(i); err != nil {
		return err
	}
	return c.waitReady()
}

// takeProcess detaches node i's process, which must be running, from the
// node, so that its exit is expected.
func (c *Cluster) takeProcess(i int) (*process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	p := n.proc
	if p == nil {
		return nil, fmt.Errorf("clustertest: node %d is not running", n.ID)
	}
	n.proc = nil
	if p.hasExited() {
		return nil, fmt.Errorf("clustertest: node %d had exited (%v):\n%s", n.ID, p.err, Tail(n.LogFile, tailBytes))
	}
	return p, nil
}

// startNode starts node i's process, which must not be running (it may
// have exited on its own).
func (c *Cluster) startNode(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClosed
	}
	n := c.nodes[i]
	if n.proc != nil && !n.proc.hasExited() {
		return fmt.Errorf("clustertest: node %d is running", n.ID)
	}
	bin, args := c.opts.Binary, []string{"serve", "--log-level", c.opts.LogLevel, n.PropertiesFile}
	if c.net != nil {
		bin, args = c.net.command(n.ID, bin, args...)
	}
	p, err := startProcess(bin, n.LogFile, args...)
	if err != nil {
		return fmt.Errorf("clustertest: node %d: %w", n.ID, err)
	}
	n.proc = p
	return nil
}

func (c *Cluster) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Close kills every running node, waits for them to exit and removes the
// cluster's directory (see Options.Dir and KeepDirs). It may be called
// more than once.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var procs []*process
	for _, n := range c.nodes {
		if n.proc != nil {
			procs = append(procs, n.proc)
			n.proc = nil
		}
		n.client.Close()
	}
	c.mu.Unlock()
	for _, p := range procs {
		p.kill()
	}
	for _, p := range procs {
		<-p.exited
	}
	var errs []error
	if c.net != nil {
		errs = append(errs, c.net.close())
	}
	if c.opts.Dir == "" && !c.opts.KeepDirs {
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, fmt.Errorf("clustertest: %w", err))
		}
	}
	return errors.Join(errs...)
}

// tailBytes is how much of a node's log an error or a failed test shows.
const tailBytes = 4000

// Logs is the tail of every node's log, for a failure's report.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, n := range c.Nodes() {
		fmt.Fprintf(&b, "----- node %d (%s), %s -----\n%s\n", n.ID, n.Addr, n.LogFile, Tail(n.LogFile, tailBytes))
	}
	return b.String()
}

// freePorts returns n distinct free loopback ports: all n are held open
// until the last is found.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("clustertest: free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// newClusterID is a random cluster id as Kafka writes them: 16 bytes,
// URL-safe base64 without padding.
func newClusterID() string {
	var id [16]byte
	rand.Read(id[:])
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// Command runcluster runs a clustertest cluster for scripts (.ci/clients/driver.sh with
// CLUSTER=1): it starts the nodes, prints BOOTSTRAP=host:port,... once they are ready, and on
// SIGTERM or SIGINT stops each node cleanly (SIGTERM); it exits 0 only if every node was ready
// and then stopped with status 0, and prints the tails of the nodes' logs otherwise.
//
// With --group G, BOOTSTRAP lists the node that coordinates group G (FindCoordinator) last, so
// that a client given the first address has to find its group's coordinator elsewhere.
//
// With --control PATH it takes fault commands on that Unix socket (control.go), which
// `runcluster kill --control PATH TOPIC` sends: the leader of one of TOPIC's partitions, neither
// the first node of BOOTSTRAP nor the group's coordinator, is SIGKILLed, the command returns once
// the partitions it led have new leaders, and the node is restarted in the background (runcluster
// waits for that restart before it stops the nodes).
//
//	go build -o runcluster ./broker/clustertest/runcluster
//	runcluster --runnel bin/runnel --nodes 3 --dir /tmp/c --set num.partitions=3 --group g --control /tmp/c/control.sock
//	runcluster kill --control /tmp/c/control.sock TOPIC
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/clustertest"
)

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "kill" {
		if err := killCommand(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "runcluster kill:", err)
			os.Exit(1)
		}
		return
	}
	var (
		o       clustertest.Options
		props   stringList
		group   = flag.String("group", "", "list the node that coordinates this consumer group last in BOOTSTRAP")
		control = flag.String("control", "", "serve fault commands (kill TOPIC) on this Unix socket")
		ready   = flag.String("ready", "metadata", "when the cluster is ready: metadata (every node's Metadata lists every broker) or apiversions (every node answers)")
	)
	flag.StringVar(&o.Binary, "runnel", "", "the runnel binary (default: build runnel/cmd/runnel from the checkout holding the working directory)")
	flag.IntVar(&o.Nodes, "nodes", 3, "combined nodes (broker,controller): the quorum's voters")
	flag.IntVar(&o.BrokerOnly, "broker-only", 0, "broker-only nodes after them")
	flag.StringVar(&o.Dir, "dir", "", "directory for the nodes' files, kept (default: a temporary one, removed)")
	flag.BoolVar(&o.Namespaces, "namespaces", false, "run each node in a network namespace of its own, on 10.213.N.<node.id> (needs root and iproute2)")
	flag.BoolVar(&o.Admin, "admin", false, "give each node an admin listener (/metrics, /debug/pprof/, /healthz)")
	flag.DurationVar(&o.Timeout, "timeout", 60*time.Second, "how long to wait for the cluster to be ready, and for a node to stop")
	flag.Var(&props, "set", "key=value for every node (repeatable)")
	flag.Parse()
	o.Properties = props
	switch *ready {
	case "metadata":
		o.Ready = clustertest.MetadataListsAllBrokers
	case "apiversions":
		o.Ready = clustertest.AnswersApiVersions
	default:
		fmt.Fprintf(os.Stderr, "runcluster: --ready %q: want metadata or apiversions\n", *ready)
		os.Exit(2)
	}
	if err := run(o, *group, *control); err != nil {
		fmt.Fprintln(os.Stderr, "runcluster:", err)
		os.Exit(1)
	}
}

func run(o clustertest.Options, group, control string) error {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	c, err := clustertest.Start(o)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, n := range c.Nodes() {
		fmt.Printf("node %d: pid %d, clients on %s, controller on %q, log %s\n", n.ID, c.Pid(int(n.ID-1)), n.Addr, n.ControllerAddr, n.LogFile)
	}
	bootstrap := c.Bootstrap()
	f := &faults{c: c, timeout: o.Timeout}
	if group != "" {
		id, err := coordinator(c, group, o.Timeout)
		if err != nil {
			return fmt.Errorf("%w\nthe nodes' logs:\n%s", err, c.Logs())
		}
		coord := c.Node(int(id - 1)).Addr
		fmt.Printf("group %s: coordinator node %d (%s)\n", group, id, coord)
		bootstrap = append(slices.DeleteFunc(bootstrap, func(a string) bool { return a == coord }), coord)
		f.spared = append(f.spared, int(id-1))
	}
	f.spared = slices.Insert(f.spared, 0, slices.Index(c.Bootstrap(), bootstrap[0]))
	if control != "" {
		ln, err := listenControl(control)
		if err != nil {
			return err
		}
		go f.serve(ln)
		defer ln.Close()
	}
	fmt.Printf("BOOTSTRAP=%s\n", strings.Join(bootstrap, ","))
	<-signals
	failed := false
	if err := f.wait(); err != nil {
		fmt.Println(err)
		failed = true
	}
	for i := range c.Len() {
		if !c.Running(i) {
			fmt.Printf("node %d was not running\n", c.Node(i).ID)
			failed = true
			continue
		}
		if err := c.Stop(i); err != nil {
			fmt.Println(err)
			failed = true
		}
	}
	if failed {
		return fmt.Errorf("not every node stopped cleanly; the nodes' logs:\n%s", c.Logs())
	}
	fmt.Println("every node stopped cleanly")
	return nil
}

// coordinator asks node 1 which node coordinates group until one does (the
// coordinator may not be available until __consumer_offsets is placed and loaded).
func coordinator(c *clustertest.Cluster, group string, timeout time.Duration) (int32, error) {
	var id int32
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := c.WaitFor(ctx, func(ctx context.Context, c *clustertest.Cluster) error {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = group            // v0-v3
		req.CoordinatorKeys = []string{group} // v4+
		resp, err := c.Request(ctx, 0, req)
		if err != nil {
			return err
		}
		r := resp.(*kmsg.FindCoordinatorResponse)
		code, node := r.ErrorCode, r.NodeID
		if len(r.Coordinators) > 0 {
			code, node = r.Coordinators[0].ErrorCode, r.Coordinators[0].NodeID
		}
		if err := kerr.ErrorForCode(code); err != nil {
			return fmt.Errorf("FindCoordinator %s: %w", group, err)
		}
		if node < 1 || int(node) > c.Len() {
			return fmt.Errorf("FindCoordinator %s: node %d is not in the cluster", group, node)
		}
		id = node
		return nil
	})
	return id, err
}

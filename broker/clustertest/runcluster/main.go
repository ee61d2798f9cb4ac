// Command runcluster runs a clustertest cluster for scripts (.ci/clients/driver.sh with
// CLUSTER=1): it starts the nodes, prints BOOTSTRAP=host:port,... once they are ready, and on
// SIGTERM or SIGINT stops each node cleanly (SIGTERM); it exits 0 only if every node was ready
// and then stopped with status 0, and prints the tails of the nodes' logs otherwise.
//
// With --group G, BOOTSTRAP lists the node that coordinates group G (FindCoordinator) last, so
// that a client given the first address has to find its group's coordinator elsewhere.
//
//	go build -o runcluster ./broker/clustertest/runcluster
//	runcluster --runnel bin/runnel --nodes 3 --dir /tmp/c --set num.partitions=3 --group g
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
	var (
		o     clustertest.Options
		props stringList
		group = flag.String("group", "", "list the node that coordinates this consumer group last in BOOTSTRAP")
		ready = flag.String("ready", "metadata", "when the cluster is ready: metadata (every node's Metadata lists every broker) or apiversions (every node answers)")
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
	if err := run(o, *group); err != nil {
		fmt.Fprintln(os.Stderr, "runcluster:", err)
		os.Exit(1)
	}
}

func run(o clustertest.Options, group string) error {
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
	if group != "" {
		id, err := coordinator(c, group, o.Timeout)
		if err != nil {
			return fmt.Errorf("%w\nthe nodes' logs:\n%s", err, c.Logs())
		}
		coord := c.Node(int(id - 1)).Addr
		fmt.Printf("group %s: coordinator node %d (%s)\n", group, id, coord)
		bootstrap = append(slices.DeleteFunc(bootstrap, func(a string) bool { return a == coord }), coord)
	}
	fmt.Printf("BOOTSTRAP=%s\n", strings.Join(bootstrap, ","))
	<-signals
	var failed bool
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

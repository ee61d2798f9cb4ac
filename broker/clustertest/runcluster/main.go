// Command runcluster runs a clustertest cluster for scripts (.ci/clients/driver.sh with
// CLUSTER=1): it starts the nodes, prints BOOTSTRAP=host:port,... once they are ready, and on
// SIGTERM or SIGINT stops each node cleanly (SIGTERM); it exits 0 only if every node was ready
// and then stopped with status 0, and prints the tails of the nodes' logs otherwise.
//
//	go build -o runcluster ./broker/clustertest/runcluster
//	runcluster --runnel bin/runnel --nodes 3 --dir /tmp/c --set num.partitions=3
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

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
		ready = flag.String("ready", "metadata", "when the cluster is ready: metadata (every node's Metadata lists every broker) or apiversions (every node answers)")
	)
	flag.StringVar(&o.Binary, "runnel", "", "the runnel binary (default: build runnel/cmd/runnel from the checkout holding the working directory)")
	flag.IntVar(&o.Nodes, "nodes", 3, "combined nodes (broker,controller): the quorum's voters")
	flag.IntVar(&o.BrokerOnly, "broker-only", 0, "broker-only nodes after them")
	flag.StringVar(&o.Dir, "dir", "", "directory for the nodes' files, kept (default: a temporary one, removed)")
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
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "runcluster:", err)
		os.Exit(1)
	}
}

func run(o clustertest.Options) error {
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
	fmt.Printf("BOOTSTRAP=%s\n", strings.Join(c.Bootstrap(), ","))
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

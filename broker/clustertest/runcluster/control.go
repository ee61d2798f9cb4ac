package main

// The fault control of --control: a Unix socket on which runcluster takes
// one command per connection, so that a client script can have a broker
// killed at a point of its choosing and go on (.ci/clients/driver.sh hands
// the scripts `runcluster kill --control PATH TOPIC` as CLUSTER_KILL).
//
//	kill TOPIC
//
// SIGKILLs the node that leads a partition of TOPIC and is neither the
// client's bootstrap node (BOOTSTRAP's first) nor the group's coordinator
// (--group), waits until every running node's Metadata names another
// leader for each partition it led, answers, then restarts the node in the
// background. The answer is lines of progress and a last line "ok ..." or
// "error: ...".

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/clustertest"
)

// faults serves the control socket for one cluster.
type faults struct {
	c *clustertest.Cluster
	// spared are the indexes of the nodes never killed: the client's
	// bootstrap node and the group's coordinator.
	spared  []int
	timeout time.Duration

	mu sync.Mutex // one command at a time
	// restarts are the restarts under way; restartErrs what failed.
	restarts    sync.WaitGroup
	restartMu   sync.Mutex
	restartErrs []error
}

// serve accepts commands on ln until it is closed.
func (f *faults) serve(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		f.handle(conn)
	}
}

// handle runs the command on conn and answers it.
func (f *faults) handle(conn net.Conn) {
	defer conn.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(conn, "error: reading the command: %v\n", err)
		return
	}
	say := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		fmt.Println("control:", msg) // runcluster's output, for the record
		fmt.Fprintln(conn, msg)
	}
	switch fields := strings.Fields(line); {
	case len(fields) == 2 && fields[0] == "kill":
		if err := f.killLeader(fields[1], say); err != nil {
			say("error: %v", err)
		}
	default:
		say("error: unknown command %q (want: kill TOPIC)", strings.TrimSpace(line))
	}
}

// killLeader is the kill command.
func (f *faults) killLeader(topic string, say func(string, ...any)) error {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	for i := range f.c.Len() {
		if !f.c.Running(i) {
			return fmt.Errorf("node %d is not running (a restart under way?)", f.c.Node(i).ID)
		}
	}
	lead, err := leaders(ctx, f.c, f.spared[0], topic)
	if err != nil {
		return err
	}
	victim, led := -1, []int32{}
	for i := range f.c.Len() {
		if slices.Contains(f.spared, i) {
			continue
		}
		for p, l := range lead {
			if l == f.c.Node(i).ID {
				led = append(led, p)
			}
		}
		if len(led) > 0 {
			victim = i
			break
		}
	}
	if victim < 0 {
		return fmt.Errorf("%s's leaders by partition %v: none is a node other than %v", topic, lead, f.ids(f.spared))
	}
	slices.Sort(led)
	id := f.c.Node(victim).ID
	killed := time.Now()
	if err := f.c.Kill(victim); err != nil {
		return err
	}
	say("killed node %d (SIGKILL), the leader of %s partitions %v", id, topic, led)
	// Every running node must know a new leader of each partition the node
	// led: the controller fenced it (broker.session.timeout.ms) and elected.
	var now map[int32]int32
	err = f.c.WaitFor(ctx, func(ctx context.Context, c *clustertest.Cluster) error {
		for i := range c.Len() {
			if !c.Running(i) {
				continue
			}
			l, err := leaders(ctx, c, i, topic)
			if err != nil {
				return err
			}
			for _, p := range led {
				if l[p] == id || l[p] < 0 {
					return fmt.Errorf("node %d: %s-%d's leader is %d", c.Node(i).ID, topic, p, l[p])
				}
			}
			now = l
		}
		return nil
	})
	f.restart(victim)
	if err != nil {
		return fmt.Errorf("no new leader after node %d's kill: %w", id, err)
	}
	say("ok: new leaders by partition %v after %d ms; restarting node %d", now, time.Since(killed).Milliseconds(), id)
	return nil
}

// restart restarts node i in the background; wait waits for it.
func (f *faults) restart(i int) {
	f.restarts.Go(func() {
		id, start := f.c.Node(i).ID, time.Now()
		if err := f.c.Restart(i); err != nil {
			fmt.Printf("control: restarting node %d: %v\n", id, err)
			f.restartMu.Lock()
			f.restartErrs = append(f.restartErrs, fmt.Errorf("restarting node %d: %w", id, err))
			f.restartMu.Unlock()
			return
		}
		fmt.Printf("control: node %d restarted, ready after %d ms\n", id, time.Since(start).Milliseconds())
	})
}

// wait waits for the command and the restarts under way and returns what
// failed.
func (f *faults) wait() error {
	f.mu.Lock() // a command under way may yet start a restart
	defer f.mu.Unlock()
	f.restarts.Wait()
	f.restartMu.Lock()
	defer f.restartMu.Unlock()
	return errors.Join(f.restartErrs...)
}

func (f *faults) ids(nodes []int) []int32 {
	var out []int32
	for _, i := range nodes {
		out = append(out, f.c.Node(i).ID)
	}
	return out
}

// leaders are topic's partition leaders as node i's Metadata has them.
func leaders(ctx context.Context, c *clustertest.Cluster, i int, topic string) (map[int32]int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = &topic
	req.Topics = append(req.Topics, rt)
	resp, err := c.Request(ctx, i, req)
	if err != nil {
		return nil, err
	}
	r := resp.(*kmsg.MetadataResponse)
	if len(r.Topics) != 1 {
		return nil, fmt.Errorf("node %d's Metadata of %s: %d topics", c.Node(i).ID, topic, len(r.Topics))
	}
	t := r.Topics[0]
	if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
		return nil, fmt.Errorf("node %d's Metadata of %s: %w", c.Node(i).ID, topic, err)
	}
	out := map[int32]int32{}
	for _, p := range t.Partitions {
		out[p.Partition] = p.Leader
	}
	return out, nil
}

// killCommand is `runcluster kill --control PATH TOPIC`: it sends the
// command, prints the answer and fails unless it ends in "ok".
func killCommand(args []string) error {
	fs := flag.NewFlagSet("kill", flag.ContinueOnError)
	control := fs.String("control", "", "the control socket of a runcluster started with --control")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *control == "" || fs.NArg() != 1 {
		return errors.New("usage: runcluster kill --control PATH TOPIC")
	}
	conn, err := net.Dial("unix", *control)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "kill %s\n", fs.Arg(0)); err != nil {
		return err
	}
	var last string
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		last = sc.Text()
		fmt.Println("runcluster:", last)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if !strings.HasPrefix(last, "ok") {
		return fmt.Errorf("the kill failed: %q", last)
	}
	return nil
}

// listenControl listens on the Unix socket path, replacing a stale one.
func listenControl(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return net.Listen("unix", path)
}

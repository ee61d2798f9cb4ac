package clustertest_test

// A consumer group across the loss of its coordinator (issue 13,
// "__consumer_offsets gets offsets.topic.replication.factor; the
// coordinator moves with leadership and reloads its groups, and commits
// are acks=all writes"): two kgo members consume a replicated topic under
// idempotent acks=all load and commit as they go, while the node that
// coordinates their group is killed, and later stopped.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/clustertest"
	"runnel/internal/wait"
)

// commitAck is an offset an OffsetCommit response acknowledged: the
// request was sent at sent, answered at at.
type commitAck struct {
	partition int32
	offset    int64
	sent, at  time.Time
}

// commitFailure is an error an OffsetCommit answered, for a partition or
// for the whole request, or one that ended a member's group session.
type commitFailure struct {
	err error
	at  time.Time
}

// consumed is a record a member read.
type consumed struct {
	partition int32
	offset    int64
	value     string
}

// groupHistory is what the members of the group saw: the records they
// read, the commits acknowledged and those that failed, and the errors
// that ended a member's group session (kgo.HookGroupManageError), in the
// order they happened.
type groupHistory struct {
	mu           sync.Mutex
	reads        []consumed
	commits      []commitAck
	failures     []commitFailure
	sessionEnded []commitFailure
	log          clustertest.ClientLog // the members' kgo log lines, printed if the test fails
}

// OnGroupManageError is kgo.HookGroupManageError: the error that ended
// a member's session, and made it rejoin.
func (h *groupHistory) OnGroupManageError(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sessionEnded = append(h.sessionEnded, commitFailure{err: err, at: time.Now()})
}

// committedBefore is, per partition, the highest offset whose commit was
// acknowledged before t.
func (h *groupHistory) committedBefore(t time.Time) map[int32]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[int32]int64{}
	for _, c := range h.commits {
		if c.at.Before(t) {
			out[c.partition] = max(out[c.partition], c.offset)
		}
	}
	return out
}

// firstCommitAfter is when the first commit sent after t was
// acknowledged (one sent before may be answered after t by the node
// that t saw go).
func (h *groupHistory) firstCommitAfter(t time.Time) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.commits {
		if c.sent.After(t) {
			return c.at, true
		}
	}
	return time.Time{}, false
}

// failuresAfter are the commit failures and the ended sessions after t.
func (h *groupHistory) failuresAfter(t time.Time) []commitFailure {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []commitFailure
	for _, f := range slices.Concat(h.failures, h.sessionEnded) {
		if f.at.After(t) {
			out = append(out, f)
		}
	}
	return out
}

// readValues is every value read, with how many times.
func (h *groupHistory) readValues() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int, len(h.reads))
	for _, r := range h.reads {
		out[r.value]++
	}
	return out
}

// recordCommit notes an OffsetCommit's answer: per partition, the offset
// it acknowledged or its error.
func (h *groupHistory) recordCommit(sentAt time.Time, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if err != nil {
		h.failures = append(h.failures, commitFailure{err: err, at: now})
		return
	}
	sent := map[int32]int64{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			sent[p.Partition] = p.Offset
		}
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				h.failures = append(h.failures, commitFailure{err: fmt.Errorf("partition %d: %w", p.Partition, err), at: now})
				continue
			}
			h.commits = append(h.commits, commitAck{partition: p.Partition, offset: sent[p.Partition], sent: sentAt, at: now})
		}
	}
}

// consume is one member: it polls, notes what it read, commits it
// (OffsetCommit acknowledged before the next poll, which is when kgo
// may rebalance: BlockRebalanceOnPoll), until ctx is done.
func (h *groupHistory) consume(ctx context.Context, cl *kgo.Client) {
	for ctx.Err() == nil {
		pollCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := cl.PollRecords(pollCtx, 1000)
		cancel()
		h.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			h.reads = append(h.reads, consumed{partition: r.Partition, offset: r.Offset, value: string(r.Value)})
		})
		h.mu.Unlock()
		if offsets := cl.UncommittedOffsets(); len(offsets) > 0 {
			sent := time.Now()
			cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
				if ctx.Err() == nil {
					h.recordCommit(sent, req, resp, err)
				}
			})
		}
		cl.AllowRebalance()
	}
}

// isDialErr reports whether err is a failure to connect.
func isDialErr(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// countErrors counts failures by their error's text.
func countErrors(failures []commitFailure) map[string]int {
	out := map[string]int{}
	for _, f := range failures {
		out[f.err.Error()]++
	}
	return out
}

// groupCoordinator is the index of the node FindCoordinator names as
// group's coordinator, once it is not one of gone.
func groupCoordinator(t *testing.T, adm *kadm.Client, group string, gone ...int) int {
	t.Helper()
	var i int
	wait.Until(t, 30*time.Second, fmt.Sprintf("a coordinator for group %s other than nodes (index) %v", group, gone), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r := adm.FindGroupCoordinators(ctx, group)[group]
		i = int(r.NodeID - 1)
		return r.Err == nil && r.NodeID > 0 && !slices.Contains(gone, i)
	})
	return i
}

// fetchCommitted reads group's committed offsets of topic with
// kadm.FetchOffsets, from the coordinator a new client finds (kgo keeps
// a coordinator it knows until that one answers NOT_COORDINATOR, which a
// dead one never does).
func fetchCommitted(t *testing.T, c *clustertest.Cluster, group, topic string) map[int32]int64 {
	t.Helper()
	out := map[int32]int64{}
	wait.Until(t, 30*time.Second, "the committed offsets of group "+group, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		rs, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
		if err == nil {
			err = rs.Error()
		}
		if err != nil {
			t.Logf("fetching the committed offsets: %v", err)
			return false
		}
		clear(out)
		rs.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic {
				out[o.Partition] = o.At
			}
		})
		return true
	})
	return out
}

// TestGroupCoordinatorFailover: two members of a consumer group read a
// topic of replication factor 3 and 6 partitions under idempotent
// acks=all load, committing as they go. The group's coordinator is
// killed (SIGKILL): the members find the new one and go on, the offsets
// committed before the kill are still there, and every acknowledged
// record is read (again only past the last commit before the kill). Then
// the new coordinator is stopped (SIGTERM, a controlled shutdown): the
// commits see no error but NOT_COORDINATOR. At the end the offsets
// FetchOffsets reads are the last ones committed.
func TestGroupCoordinatorFailover(t *testing.T) {
	c := startReplicatedCluster(t, false, true)
	const topic, partitions, group = "grouped", 6, "failover"
	createReplicatedTopic(t, c, topic, partitions)
	w, err := c.StartWorkload(clustertest.WorkloadOptions{Topic: topic, Partitions: partitions, Producers: 2, Interval: 5 * time.Millisecond,
		Opts: []kgo.Opt{kgo.MetadataMinAge(metadataMinAge)}})
	if err != nil {
		t.Fatal(err)
	}
	admCl, err := c.Client(kgo.MetadataMinAge(metadataMinAge))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(admCl)

	var h groupHistory
	ctx, stopMembers := context.WithCancel(context.Background())
	defer stopMembers()
	var members sync.WaitGroup
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the members' last log lines:\n%s", strings.Join(h.log.Lines(), "\n"))
		}
	})
	for i := range 2 {
		cl, err := c.Client(
			kgo.WithLogger(h.log.Logger(fmt.Sprintf("member %d", i))),
			kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.MetadataMinAge(metadataMinAge), kgo.WithHooks(&h),
			kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond),
		)
		if err != nil {
			t.Fatal(err)
		}
		members.Add(1)
		go func() {
			defer members.Done()
			h.consume(ctx, cl)
		}()
	}
	// Both members in the group and reading.
	wait.Until(t, 30*time.Second, "group "+group+" stable with 2 members", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		gs, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return false
		}
		g := gs[group]
		return g.Err == nil && g.State == "Stable" && len(g.Members) == 2
	})
	waitAcked(t, w, 200)
	wait.Until(t, 30*time.Second, "commits of every partition", func() bool {
		return len(h.committedBefore(time.Now())) == partitions
	})

	// SIGKILL the coordinator.
	victim := groupCoordinator(t, adm, group)
	killed := time.Now()
	beforeKill := h.committedBefore(killed)
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	var took time.Duration
	wait.Until(t, 60*time.Second, fmt.Sprintf("a commit acknowledged after node %d's kill", c.Node(victim).ID), func() bool {
		at, ok := h.firstCommitAfter(killed)
		took = at.Sub(killed)
		return ok
	})
	next := groupCoordinator(t, adm, group, victim)
	t.Logf("killed node %d, coordinator of group %s; node %d took over; the first commit sent after the kill acknowledged %v after it",
		c.Node(victim).ID, group, c.Node(next).ID, took.Round(time.Millisecond))
	for p, at := range fetchCommitted(t, c, group, topic) {
		if at < beforeKill[p] {
			t.Errorf("after the kill %s-%d's committed offset is %d, below the %d acknowledged before it", topic, p, at, beforeKill[p])
		}
	}
	t.Logf("commit failures and ended group sessions after the kill: %v", countErrors(h.failuresAfter(killed)))
	waitAcked(t, w, 200)

	// Bring the killed node back, then SIGTERM the coordinator.
	if err := c.Restart(victim); err != nil {
		t.Fatal(err)
	}
	waitFullISR(t, c, topic, partitions, "the restart")
	waitFullISR(t, c, "__consumer_offsets", 3, "the restart")
	stopped := groupCoordinator(t, adm, group)
	terminated := time.Now()
	if err := c.Stop(stopped); err != nil {
		t.Fatal(err)
	}
	exited := time.Now()
	wait.Until(t, 60*time.Second, fmt.Sprintf("a commit acknowledged after node %d's stop", c.Node(stopped).ID), func() bool {
		at, ok := h.firstCommitAfter(exited)
		took = at.Sub(terminated)
		return ok
	})
	t.Logf("stopped node %d (SIGTERM, exited %v later), coordinator of group %s; node %d took over; the first commit sent after its exit acknowledged %v after the SIGTERM",
		c.Node(stopped).ID, exited.Sub(terminated).Round(time.Millisecond), group, c.Node(groupCoordinator(t, adm, group, stopped)).ID, took.Round(time.Millisecond))
	waitAcked(t, w, 200)
	t.Logf("commit failures and ended group sessions after the SIGTERM: %v", countErrors(h.failuresAfter(terminated)))
	for _, f := range h.failuresAfter(terminated) {
		// A connection to the stopping node that died under a commit sent
		// as it closed, or a dial of it after it exited, is a transport
		// error kgo hands to the commit's callback or to the member's
		// heartbeat loop (the node answered NOT_COORDINATOR while it served,
		// once leadership had moved; Java's client marks the coordinator
		// unknown and retries). kgo does not count a refused dial as
		// retryable (IsRetryableBrokerErr): it retries one only where it
		// chose to. The offsets are checked below: none is lost.
		if kgo.IsRetryableBrokerErr(f.err) || isDialErr(f.err) {
			continue
		}
		if !errors.Is(f.err, kerr.NotCoordinator) {
			t.Errorf("after the controlled shutdown, a commit failed or a group session ended: %v", f.err)
		}
	}

	// Every acknowledged record read; a record read twice only past the
	// last commit before the kill.
	acked, failures := w.Stop()
	t.Logf("%d records acknowledged, %d failed", len(acked), len(failures))
	wait.Until(t, 60*time.Second, "every acknowledged record read by the group", func() bool {
		read := h.readValues()
		for _, a := range acked {
			if read[clustertest.Value(a.Producer, a.Seq)] == 0 {
				return false
			}
		}
		return true
	})
	lastCommits := func() map[int32]int64 { return h.committedBefore(time.Now()) }
	wait.Until(t, 30*time.Second, "every record read committed", func() bool {
		ends := map[int32]int64{}
		for _, a := range acked {
			ends[a.Partition] = max(ends[a.Partition], a.Offset+1)
		}
		last := lastCommits()
		for p, end := range ends {
			if last[p] < end {
				return false
			}
		}
		return true
	})
	stopMembers()
	members.Wait()
	dups := 0
	h.mu.Lock()
	readAt := map[string][]consumed{}
	for _, r := range h.reads {
		readAt[r.value] = append(readAt[r.value], r)
	}
	h.mu.Unlock()
	for v, rs := range readAt {
		if len(rs) == 1 {
			continue
		}
		dups++
		if r := rs[0]; r.offset < beforeKill[r.partition] {
			t.Errorf("%s (%s-%d at %d) read %d times, below the offset %d committed before the kill", v, topic, r.partition, r.offset, len(rs), beforeKill[r.partition])
		}
	}
	last := lastCommits()
	got := fetchCommitted(t, c, group, topic)
	t.Logf("%d records read, %d of them more than once; committed offsets %v", len(readAt), dups, got)
	if !maps.Equal(got, last) {
		t.Errorf("FetchOffsets reads %v, the last commits acknowledged were %v", got, last)
	}
	if err := c.Restart(stopped); err != nil {
		t.Fatal(err)
	}
	waitFullISR(t, c, topic, partitions, "the last restart")
	checkRound(t, c, topic, partitions, acked, "the end")
}

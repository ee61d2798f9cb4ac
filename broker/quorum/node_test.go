package quorum

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"runnel/internal/wait"
	"runnel/io/disk/faultfs"
)

// applied is one committed proposal as a state machine saw it.
type applied struct {
	Index uint64 `json:"i"`
	Data  string `json:"d"`
}

// recorder is a state machine whose state is the sequence of proposals committed: its
// snapshots carry the sequence so far.
type recorder struct {
	mu      sync.Mutex
	seq     []applied
	changed chan struct{} // closed and replaced on every change
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *recorder) Restore(snap *pb.Snapshot) error {
	var seq []applied
	if err := json.Unmarshal(snap.GetData(), &seq); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq = seq
	r.notifyLocked()
	return nil
}

func (r *recorder) Apply(entries []*pb.Entry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range entries {
		if e.GetType() == pb.EntryType_EntryNormal && len(e.GetData()) > 0 {
			r.seq = append(r.seq, applied{e.GetIndex(), string(e.GetData())})
		}
	}
	r.notifyLocked()
	return nil
}

func (r *recorder) Snapshot() ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return json.Marshal(r.seq)
}

// sequence returns what was applied so far and a channel closed on the next change.
func (r *recorder) sequence() ([]applied, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seq), r.changed
}

// member is one voter of the test cluster: its node, storage and state machine, over a
// crashable file system rooted at root.
type member struct {
	id      uint64
	root    string
	fs      *faultfs.FS
	storage *Storage
	node    *Node
	sm      *recorder
}

type cluster struct {
	t       *testing.T
	net     *LocalNetwork
	voters  []uint64
	members map[uint64]*member
	restart int
}

// newCluster starts a voter for each id, each in its own directory, and stops them all when
// the test ends.
func newCluster(t *testing.T, voters ...uint64) *cluster {
	c := &cluster{t: t, net: NewLocalNetwork(), voters: voters, members: map[uint64]*member{}}
	for _, id := range voters {
		c.start(id, filepath.Join(t.TempDir(), fmt.Sprint("node", id)))
	}
	t.Cleanup(func() {
		for _, m := range c.members {
			c.net.Detach(m.id)
			m.node.Stop()
			m.storage.Close()
		}
	})
	return c
}

func (c *cluster) start(id uint64, root string) {
	c.t.Helper()
	m := &member{id: id, root: root, fs: faultfs.NewCrashable(root), sm: newRecorder()}
	cfg := smallSegments()
	cfg.FS = m.fs
	s, err := Open(filepath.Join(root, Partition.DirName()), Options{Segment: cfg, Logger: quietLogger})
	if err != nil {
		c.t.Fatalf("node %d: Open: %v", id, err)
	}
	m.storage = s
	m.node, err = StartNode(NodeConfig{ID: id, Voters: c.voters, Storage: s, Transport: c.net.Transport(id), StateMachine: m.sm,
		TickInterval: 5 * time.Millisecond, ElectionTick: 20, HeartbeatTick: 2, SnapshotEvery: 40, CatchUpEntries: 10, Logger: quietLogger})
	if err != nil {
		c.t.Fatalf("node %d: StartNode: %v", id, err)
	}
	c.net.Attach(m.node)
	c.members[id] = m
}

// crash cuts the power of a running member: its directory is cloned as the crash leaves it,
// the node and storage are abandoned, and it restarts from the clone.
func (c *cluster) crashAndRestart(id uint64) {
	c.t.Helper()
	m := c.members[id]
	c.restart++
	clone := filepath.Join(c.t.TempDir(), fmt.Sprintf("node%d-%d", id, c.restart))
	if err := m.fs.CrashClone(clone); err != nil {
		c.t.Fatal(err)
	}
	c.net.Detach(id)
	m.node.Stop()
	m.storage.Close()
	c.start(id, clone)
}

// leader waits for a member that leads. The bound is generous: on a loaded machine (CI's two
// cores under make test) an election after a crash took longer than 5 s.
func (c *cluster) leader() *member {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		for _, m := range c.members {
			if m.node.Status().RaftState == raft.StateLeader {
				return m
			}
		}
		<-tick.C
	}
	c.t.Fatal("no leader within 30s")
	return nil
}

// commit proposes data until the leader applies it, and reports that as the acknowledgement.
func (c *cluster) commit(data string) {
	c.t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		m := c.leader()
		if err := m.node.Propose(context.Background(), []byte(data)); err != nil {
			continue
		}
		timeout := time.After(time.Second)
		for {
			seq, changed := m.sm.sequence()
			if slices.ContainsFunc(seq, func(a applied) bool { return a.Data == data }) {
				return
			}
			select {
			case <-changed:
				continue
			case <-m.node.Done():
				c.t.Fatalf("node %d stopped: %v", m.id, m.node.Err())
			case <-timeout:
			}
			break // leadership may have moved: propose again
		}
	}
	c.t.Fatalf("%s was never committed", data)
}

// TestClusterSurvivesCrashes runs three voters over the local network, commits 200
// proposals while crashing a follower and then the leader (each restarted from what its
// disk kept), and checks the histories: every node's committed sequence is a prefix of the
// longest, and every acknowledged proposal is in it, in order.
func TestClusterSurvivesCrashes(t *testing.T) {
	c := newCluster(t, 1, 2, 3)
	var acked []string
	propose := func(from, to int) {
		for i := from; i < to; i++ {
			data := fmt.Sprintf("p-%03d", i)
			c.commit(data)
			acked = append(acked, data)
		}
	}
	propose(0, 50)
	var follower *member
	for _, m := range c.members {
		if m.node.Status().RaftState != raft.StateLeader {
			follower = m
			break
		}
	}
	// The follower is down while more than a snapshot's worth commits: it catches up from a
	// snapshot after its restart.
	c.net.Detach(follower.id)
	propose(50, 110)
	leaderFirst, _ := c.leader().storage.FirstIndex()
	followerLast, _ := follower.storage.LastIndex()
	if leaderFirst <= followerLast+1 {
		t.Fatalf("the leader's log starts at %d: the follower (at %d) needs no snapshot", leaderFirst, followerLast)
	}
	c.crashAndRestart(follower.id)
	propose(110, 140)
	c.crashAndRestart(c.leader().id)
	propose(140, 200)

	// Every node ends up with every acknowledged proposal.
	for _, m := range c.members {
		for {
			seq, changed := m.sm.sequence()
			have := 0
			for _, a := range seq {
				if have < len(acked) && a.Data == acked[have] {
					have++
				}
			}
			if have == len(acked) {
				break
			}
			select {
			case <-changed:
			case <-m.node.Done():
				t.Fatalf("node %d stopped: %v", m.id, m.node.Err())
			case <-time.After(5 * time.Second):
				t.Fatalf("node %d has %d of %d acknowledged proposals", m.id, have, len(acked))
			}
		}
	}
	var longest []applied
	seqs := map[uint64][]applied{}
	for id, m := range c.members {
		seqs[id], _ = m.sm.sequence()
		if len(seqs[id]) > len(longest) {
			longest = seqs[id]
		}
	}
	for id, seq := range seqs {
		if !slices.Equal(seq, longest[:len(seq)]) {
			t.Fatalf("node %d's committed sequence is not a prefix of the longest", id)
		}
	}
	// Acknowledged proposals appear in order (retries may add later duplicates).
	first := map[string]int{}
	for i, a := range longest {
		if _, ok := first[a.Data]; !ok {
			first[a.Data] = i
		}
	}
	for i := 1; i < len(acked); i++ {
		if first[acked[i]] <= first[acked[i-1]] {
			t.Fatalf("%s committed before %s", acked[i], acked[i-1])
		}
	}
	for i := 1; i < len(longest); i++ {
		if longest[i].Index <= longest[i-1].Index {
			t.Fatalf("indexes out of order: %d after %d", longest[i].Index, longest[i-1].Index)
		}
	}
}

// TestNodeStopsOnStorageFailure: a failed fdatasync stops the node with the error (Done,
// Err), and what it had reported written is there after a restart.
func TestNodeStopsOnStorageFailure(t *testing.T) {
	c := newCluster(t, 1)
	m := c.members[1]
	c.commit("before")
	m.fs.Inject(faultfs.Rule{Op: faultfs.Fdatasync, Nth: 1})
	if err := m.node.Propose(context.Background(), []byte("after")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.node.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the node did not stop after a failed fdatasync")
	}
	if err := m.node.Err(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Err() = %v, want EIO", err)
	}
	c.crashAndRestart(1)
	c.commit("after restart")
	seq, _ := c.members[1].sm.sequence()
	if len(seq) < 2 || seq[0].Data != "before" || seq[len(seq)-1].Data != "after restart" {
		t.Fatalf("sequence after restart: %v", seq)
	}
}

// TestSingleVoterLeadsAtOnce: the only voter campaigns as soon as it knows the configuration,
// fresh and after a restart, so it leads long before an election timeout (here an hour).
func TestSingleVoterLeadsAtOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), Partition.DirName())
	for round := range 2 {
		s, err := Open(dir, Options{Segment: smallSegments(), Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		net := NewLocalNetwork()
		n, err := StartNode(NodeConfig{ID: 1, Voters: []uint64{1}, Storage: s, Transport: net.Transport(1), StateMachine: newRecorder(),
			TickInterval: time.Hour, Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		wait.Until(t, 5*time.Second, fmt.Sprintf("round %d: the single voter leads", round), func() bool {
			return n.Status().RaftState == raft.StateLeader
		})
		n.Stop()
		s.Close()
	}
}

// TestNodeHaltsOnFailedLogRead: when Raft's read of the metadata log fails (here after a
// failed fdatasync took the log offline, then the node restarts over that storage and Raft
// reads the committed entries to apply), the process exits with status 1 and Kafka's "fatal
// fault" message, not with etcd's panic and a goroutine dump. The node runs in a child
// process (RUNNEL_QUORUM_HALT_CHILD set).
func TestNodeHaltsOnFailedLogRead(t *testing.T) {
	if os.Getenv("RUNNEL_QUORUM_HALT_CHILD") != "" {
		haltChild(t)
		return
	}
	child := exec.Command(os.Args[0], "-test.run=^TestNodeHaltsOnFailedLogRead$", "-test.count=1")
	// The child exits without its cleanups: its temporary directories go inside ours.
	child.Env = append(os.Environ(), "RUNNEL_QUORUM_HALT_CHILD=1", "TMPDIR="+t.TempDir())
	out, err := child.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("child: %v, want exit status 1; output:\n%s", err, out)
	}
	for _, want := range []string{"Encountered fatal fault: the metadata log cannot be read", "input/output error"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"panic", "goroutine "} {
		if strings.Contains(string(out), unwanted) {
			t.Errorf("output holds %q:\n%s", unwanted, out)
		}
	}
}

// haltChild commits entries on a single voter, takes its log offline with a failed
// fdatasync and restarts the node over the same storage; it should not return.
func haltChild(t *testing.T) {
	c := newCluster(t, 1)
	m := c.members[1]
	for i := range 3 {
		c.commit(fmt.Sprint("entry ", i))
	}
	c.net.Detach(1)
	m.node.Stop()
	m.fs.Inject(faultfs.Rule{Op: faultfs.Fdatasync, Nth: 1})
	if err := m.storage.Append(entries(m.storage.last+1, m.storage.terms[len(m.storage.terms)-1].term)); err == nil {
		t.Fatal("Append succeeded despite the failed fdatasync")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	m.storage.logger = logger
	n, err := StartNode(NodeConfig{ID: 1, Voters: c.voters, Storage: m.storage, Transport: c.net.Transport(1), StateMachine: newRecorder(),
		TickInterval: 5 * time.Millisecond, ElectionTick: 20, HeartbeatTick: 2, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	m.node = n
	select {
	case <-n.Done():
		t.Fatalf("the node stopped (%v) instead of halting the process", n.Err())
	case <-time.After(10 * time.Second):
		t.Fatal("the process did not halt")
	}
}

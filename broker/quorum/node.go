package quorum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Transport carries Raft messages between voters. Send must not block on a slow or dead peer:
// it queues or drops (Raft retransmits), and reports a peer it cannot reach with
// Node.ReportUnreachable and the outcome of each MsgSnap with Node.ReportSnapshot. The
// receiving side hands each message to the destination's Node.Step.
type Transport interface {
	Send(msgs []*pb.Message)
}

// StateMachine is what the committed log is applied to. Its methods are called from the
// Node's Ready loop, one at a time.
type StateMachine interface {
	// Restore replaces the state with a snapshot's: at start with the stored snapshot, and
	// when the leader sends one.
	Restore(snap *pb.Snapshot) error
	// Apply applies committed entries, in index order, each once per Node (after a restart,
	// from the snapshot on). Configuration changes are applied to Raft by the Node first.
	Apply(entries []*pb.Entry) error
	// Snapshot returns the state after the last entry applied, for a snapshot.
	Snapshot() ([]byte, error)
}

// NodeConfig configures a Node.
type NodeConfig struct {
	ID      uint64   // this voter's id (node.id), not 0
	Voters  []uint64 // the initial voters (controller.quorum.voters), used when the storage is empty
	Storage *Storage
	// Transport sends this node's messages; StateMachine receives what is committed.
	Transport    Transport
	StateMachine StateMachine
	// TickInterval is one Raft tick; ElectionTick and HeartbeatTick count ticks (defaults 100 ms,
	// 10 and 1).
	TickInterval                time.Duration
	ElectionTick, HeartbeatTick int
	// SnapshotEvery: after this many entries applied since the latest snapshot, the node takes
	// one and compacts the log below it but for CatchUpEntries entries, which a lagging
	// follower can still fetch (a follower further behind is sent the snapshot). 0: never.
	SnapshotEvery, CatchUpEntries uint64
	Logger                        *slog.Logger // nil: slog.Default()
}

// Node drives a raft.Node over a Storage in the order Raft asks (STYLE.md 19): for each Ready,
// save the snapshot, entries and HardState (fsynced), then send the messages, then apply what
// is committed, then Advance.
type Node struct {
	id     uint64
	raft   raft.Node
	cfg    NodeConfig
	logger *slog.Logger

	// Ready loop only:
	confState  *pb.ConfState // the configuration after the last applied entry
	applied    uint64        // the index of the last applied entry
	snapIndex  uint64        // the index of the latest snapshot
	campaigned bool          // campaignAlone has campaigned

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	err      error // why the loop ended, set before done closes
}

// StartNode starts a voter: a fresh one with cfg.Voters when the storage is empty, otherwise
// from what the storage holds (restoring the state machine from its snapshot first).
func StartNode(cfg NodeConfig) (*Node, error) {
	if cfg.ID == 0 || cfg.Storage == nil || cfg.Transport == nil || cfg.StateMachine == nil {
		return nil, errors.New("quorum: a node needs an id, a storage, a transport and a state machine")
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	if cfg.ElectionTick <= 0 {
		cfg.ElectionTick = 10
	}
	if cfg.HeartbeatTick <= 0 {
		cfg.HeartbeatTick = 1
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("node", cfg.ID)
	snap, err := cfg.Storage.Snapshot()
	if err != nil {
		return nil, err
	}
	last, err := cfg.Storage.LastIndex()
	if err != nil {
		return nil, err
	}
	rc := &raft.Config{
		ID:              cfg.ID,
		ElectionTick:    cfg.ElectionTick,
		HeartbeatTick:   cfg.HeartbeatTick,
		Storage:         cfg.Storage,
		Applied:         snap.GetMetadata().GetIndex(),
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
		CheckQuorum:     true,
		PreVote:         true,
		Logger:          raftLogger{logger},
	}
	n := &Node{id: cfg.ID, cfg: cfg, logger: logger, confState: proto.Clone(snap.GetMetadata().GetConfState()).(*pb.ConfState),
		applied: snap.GetMetadata().GetIndex(), snapIndex: snap.GetMetadata().GetIndex(),
		stop: make(chan struct{}), done: make(chan struct{})}
	if !raft.IsEmptySnap(snap) {
		if err := cfg.StateMachine.Restore(snap); err != nil {
			return nil, fmt.Errorf("quorum: restoring the snapshot at %d: %w", snap.GetMetadata().GetIndex(), err)
		}
	}
	if last == 0 && raft.IsEmptySnap(snap) {
		if len(cfg.Voters) == 0 {
			return nil, errors.New("quorum: an empty storage needs the initial voters")
		}
		peers := make([]raft.Peer, len(cfg.Voters))
		for i, id := range cfg.Voters {
			peers[i] = raft.Peer{ID: id}
		}
		n.raft = raft.StartNode(rc, peers)
	} else {
		n.raft = raft.RestartNode(rc)
	}
	go n.run()
	return n, nil
}

// ID is the node's id.
func (n *Node) ID() uint64 { return n.id }

// Step hands the node a message that arrived from a peer.
func (n *Node) Step(ctx context.Context, m *pb.Message) error { return n.raft.Step(ctx, m) }

// Propose asks for data to be appended to the log. It returns once the proposal is handed to
// Raft, not when it commits: the state machine sees it applied (or never, if leadership
// changed first, in which case the caller proposes again).
func (n *Node) Propose(ctx context.Context, data []byte) error { return n.raft.Propose(ctx, data) }

// Status is Raft's view of the node: leader, term, commit and applied index.
func (n *Node) Status() raft.Status { return n.raft.Status() }

// ReportUnreachable tells Raft that the transport could not reach id.
func (n *Node) ReportUnreachable(id uint64) { n.raft.ReportUnreachable(id) }

// ReportSnapshot tells Raft how sending a snapshot to id ended.
func (n *Node) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	n.raft.ReportSnapshot(id, status)
}

// Done is closed when the node has stopped, by Stop or on an error (Err).
func (n *Node) Done() <-chan struct{} { return n.done }

// Err is why the node stopped: nil after Stop, a storage or state machine error otherwise.
// Valid once Done is closed.
func (n *Node) Err() error { <-n.done; return n.err }

// Stop stops the node and waits for its Ready loop. It does not close the storage.
func (n *Node) Stop() {
	n.stopOnce.Do(func() { close(n.stop) })
	<-n.done
}

// run is the Ready loop.
func (n *Node) run() {
	defer close(n.done)
	defer n.raft.Stop()
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	n.campaignAlone() // a snapshot may have told the configuration already
	for {
		select {
		case <-ticker.C:
			n.raft.Tick()
		case rd := <-n.raft.Ready():
			if err := n.handle(rd); err != nil {
				n.err = err
				n.logger.Error("quorum: node stopped", "err", err)
				return
			}
			n.raft.Advance()
			n.campaignAlone()
		case <-n.stop:
			return
		}
	}
}

// campaignAlone campaigns once, as soon as the configuration is known, when this node is the
// only voter: it need not wait an election timeout for peers that do not exist, so a one-node
// cluster (every test broker) is active at once. Raft learns the configuration from the
// committed entries (or the snapshot), so the check follows a Ready.
func (n *Node) campaignAlone() {
	if n.campaigned || len(n.confState.GetVoters()) != 1 || n.confState.GetVoters()[0] != n.id {
		return
	}
	n.campaigned = true
	if n.raft.Status().RaftState == raft.StateLeader {
		return
	}
	if err := n.raft.Campaign(context.Background()); err != nil {
		n.logger.Warn("quorum: campaigning failed; the election timeout will start one", "err", err)
	}
}

// handle does what one Ready asks, in order.
func (n *Node) handle(rd raft.Ready) error {
	st := n.cfg.Storage
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := st.ApplySnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	if err := st.Append(rd.Entries); err != nil {
		return err
	}
	// A HardState whose term and vote are unchanged (Raft says MustSync is false) only moved the
	// commit index, which a restart learns again from the leader: it is not worth two fsyncs
	// before this Ready's entries can be applied.
	if !raft.IsEmptyHardState(rd.HardState) && rd.MustSync {
		if err := st.SetHardState(rd.HardState); err != nil {
			return err
		}
	}
	n.cfg.Transport.Send(rd.Messages)
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.cfg.StateMachine.Restore(rd.Snapshot); err != nil {
			return fmt.Errorf("quorum: restoring the snapshot at %d: %w", rd.Snapshot.GetMetadata().GetIndex(), err)
		}
		n.confState = proto.Clone(rd.Snapshot.GetMetadata().GetConfState()).(*pb.ConfState)
		n.applied = rd.Snapshot.GetMetadata().GetIndex()
		n.snapIndex = n.applied
	}
	for _, e := range rd.CommittedEntries {
		var cc pb.ConfChangeI
		switch e.GetType() {
		case pb.EntryType_EntryConfChange:
			c := new(pb.ConfChange)
			if err := proto.Unmarshal(e.GetData(), c); err != nil {
				return fmt.Errorf("quorum: entry %d: %w", e.GetIndex(), err)
			}
			cc = c
		case pb.EntryType_EntryConfChangeV2:
			c := new(pb.ConfChangeV2)
			if err := proto.Unmarshal(e.GetData(), c); err != nil {
				return fmt.Errorf("quorum: entry %d: %w", e.GetIndex(), err)
			}
			cc = c
		}
		if cc != nil {
			n.confState = n.raft.ApplyConfChange(cc)
		}
	}
	if len(rd.CommittedEntries) > 0 {
		if err := n.cfg.StateMachine.Apply(rd.CommittedEntries); err != nil {
			return fmt.Errorf("quorum: applying entries %d-%d: %w", rd.CommittedEntries[0].GetIndex(), rd.CommittedEntries[len(rd.CommittedEntries)-1].GetIndex(), err)
		}
		n.applied = rd.CommittedEntries[len(rd.CommittedEntries)-1].GetIndex()
	}
	return n.maybeSnapshot()
}

// maybeSnapshot takes a snapshot and compacts the log once SnapshotEvery entries were applied
// since the last one.
func (n *Node) maybeSnapshot() error {
	every := n.cfg.SnapshotEvery
	if every == 0 || n.applied < n.snapIndex+every {
		return nil
	}
	data, err := n.cfg.StateMachine.Snapshot()
	if err != nil {
		return fmt.Errorf("quorum: snapshot at %d: %w", n.applied, err)
	}
	if _, err := n.cfg.Storage.CreateSnapshot(n.applied, n.confState, data); err != nil {
		return err
	}
	n.snapIndex = n.applied
	if n.applied <= n.cfg.CatchUpEntries {
		return nil
	}
	if err := n.cfg.Storage.Compact(n.applied - n.cfg.CatchUpEntries); err != nil && !errors.Is(err, raft.ErrCompacted) {
		return err
	}
	return nil
}

// raftLogger sends Raft's log lines to slog. Raft's Panic and Fatal still end the process,
// as Raft expects.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debug(v ...any)                   { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Debugf(format string, v ...any)   { r.l.Debug(fmt.Sprintf(format, v...)) }
func (r raftLogger) Info(v ...any)                    { r.l.Info(fmt.Sprint(v...)) }
func (r raftLogger) Infof(format string, v ...any)    { r.l.Info(fmt.Sprintf(format, v...)) }
func (r raftLogger) Warning(v ...any)                 { r.l.Warn(fmt.Sprint(v...)) }
func (r raftLogger) Warningf(format string, v ...any) { r.l.Warn(fmt.Sprintf(format, v...)) }
func (r raftLogger) Error(v ...any)                   { r.l.Error(fmt.Sprint(v...)) }
func (r raftLogger) Errorf(format string, v ...any)   { r.l.Error(fmt.Sprintf(format, v...)) }
func (r raftLogger) Fatal(v ...any)                   { panic(fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(format string, v ...any)   { panic(fmt.Sprintf(format, v...)) }
func (r raftLogger) Panic(v ...any)                   { panic(fmt.Sprint(v...)) }
func (r raftLogger) Panicf(format string, v ...any)   { panic(fmt.Sprintf(format, v...)) }

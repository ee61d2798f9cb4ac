package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"runnel/broker/metadata"
	"runnel/broker/quorum"
)

// Config configures a Controller.
type Config struct {
	// Node configures the quorum voter; its StateMachine is the
	// Controller's own and must be left nil.
	Node quorum.NodeConfig
	// Holder receives every image the committed log builds (nil: a new
	// one). The broker of a combined node reads its image from here.
	Holder *metadata.Holder
	// ClusterID, when not empty, must match a registering broker's.
	ClusterID string
	// SessionTimeout is broker.session.timeout.ms (default 9 s): a broker
	// without a heartbeat for this long is fenced.
	SessionTimeout time.Duration
	// SessionCheckInterval is how often the active controller looks for
	// expired sessions (default 100 ms).
	SessionCheckInterval time.Duration
	// Clock is the time sessions are measured with (nil: time.Now).
	Clock func() time.Time
	// DefaultPartitions and DefaultReplicationFactor stand in for -1 in
	// CreateTopics (num.partitions, default.replication.factor; default 1).
	DefaultPartitions        int32
	DefaultReplicationFactor int16
	// MaxPartitionsPerTopic caps a topic's partitions
	// (runnel.max.partitions.per.topic; 0: no cap beyond the format's).
	MaxPartitionsPerTopic int32
	// Rules validates names and configs with the broker's rules.
	Rules Rules
	// Rebalance configures the automatic leader rebalance.
	Rebalance RebalanceConfig
	// Applied, when set, is called on the quorum's Ready loop with each new
	// image the committed log builds (after a batch of entries, after a
	// snapshot is restored) and the metadata offset of the last entry
	// applied. It must not block: a broker hands the image to its own
	// goroutine (every image this member publishes reaches it, or a later one).
	Applied func(img *metadata.Image, offset int64)
	// Rand draws topic ids and breaks placement ties (nil: random).
	Rand   *rand.Rand
	Logger *slog.Logger // nil: slog.Default()
}

// RebalanceConfig configures the automatic leader rebalance
// (elections.go, rebalanceLeaders): with Enable
// (auto.leader.rebalance.enable) the active controller runs preferred
// leader elections every CheckInterval
// (leader.imbalance.check.interval.seconds, default 300 s) for the brokers
// whose leader imbalance is above Percentage
// (leader.imbalance.per.broker.percentage, default 10).
type RebalanceConfig struct {
	Enable        bool
	CheckInterval time.Duration
	Percentage    int
}

// Rules are the broker's validation rules, which the controller applies
// before it writes (the broker package owns them; nil functions accept
// anything the metadata format holds).
type Rules struct {
	// TopicName checks a new topic's name (Kafka's legal characters); its
	// error's message is the response's.
	TopicName func(name string) error
	// TopicConfig checks one topic config key and value.
	TopicConfig func(key, value string) error
	// ListConfig reports whether a topic config holds a comma-separated
	// list (the only keys IncrementalAlterConfigs APPEND and SUBTRACT take).
	ListConfig func(key string) bool
	// Default is the value a topic config takes when the topic does not
	// set it (the broker's default), which APPEND and SUBTRACT start from
	// (nil: the empty list).
	Default func(key string) string
	// BrokerConfig reports whether a broker config may be set dynamically
	// and checks its value (nil: no broker config may be).
	BrokerConfig func(key, value string) (dynamic bool, err error)
}

// Controller is one member of the controller quorum. Every member applies
// the committed metadata log to its image (Holder); the member that is the
// Raft leader, once it has applied an entry of its own term, is the active
// controller and answers the admin and broker requests (CreateTopics,
// RegisterBroker, ...); the others answer NOT_CONTROLLER.
//
// The active controller serialises its operations: each validates its
// request against the current image, proposes the resulting records as one
// entry and waits until that entry is applied here, under one mutex, so
// every operation sees the effects of every operation acknowledged before
// it (two creates of one name cannot both succeed). An operation fails with
// NOT_CONTROLLER when leadership is lost before its entry is applied; its
// outcome is then unknown, as a client of Kafka sees it.
type Controller struct {
	cfg    Config
	node   *quorum.Node
	holder *metadata.Holder
	logger *slog.Logger
	clock  func() time.Time

	// mu serialises the active controller's operations ("validate,
	// propose, wait for the apply") and guards what only they use.
	mu       sync.Mutex
	rng      *rand.Rand
	term     uint64              // the term the session state below belongs to
	since    time.Time           // when this controller became active in term
	contacts map[int32]time.Time // last heartbeat or registration per broker, this term
	// shutdowns are the brokers in controlled shutdown this term, each
	// with its shutdown offset (-1 while leaderships are still moving;
	// brokers.go, controlledShutdown).
	shutdowns map[int32]int64
	reported  map[int32]int64 // the metadata offset of each broker's last heartbeat, this term

	// sm guards the state the Ready loop's Apply changes and operations read.
	sm struct {
		sync.Mutex
		appliedIndex uint64
		appliedTerm  uint64
		registered   map[int32]uint64 // broker id to the index of the entry that registered it
		pending      *proposal
		applied      chan struct{} // closed and replaced whenever entries were applied
	}

	observers  observers  // the brokers fetching the metadata log, for DescribeQuorum
	voterTimes voterTimes // when the other voters last fetched and caught up, for DescribeQuorum

	stop     chan struct{} // closed by Close: in-flight operations end with NOT_CONTROLLER
	stopOnce sync.Once
	done     chan struct{} // closed when the session checker has returned
}

// proposal is the entry the active controller waits for.
type proposal struct {
	data   []byte
	result chan error // buffered: the outcome of applying it
}

// New starts a quorum voter with the Controller as its state machine (the
// image is restored from the storage's snapshot and log first) and the
// session checker. The caller attaches Node() to its transport.
func New(cfg Config) (*Controller, error) {
	if cfg.Node.StateMachine != nil {
		return nil, errors.New("controller: Config.Node.StateMachine must be nil")
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 9 * time.Second
	}
	if cfg.SessionCheckInterval <= 0 {
		cfg.SessionCheckInterval = 100 * time.Millisecond
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Rebalance.CheckInterval <= 0 {
		cfg.Rebalance.CheckInterval = 300 * time.Second
	}
	if cfg.Rebalance.Percentage < 0 {
		cfg.Rebalance.Percentage = 10
	}
	if cfg.DefaultPartitions <= 0 {
		cfg.DefaultPartitions = 1
	}
	if cfg.DefaultReplicationFactor <= 0 {
		cfg.DefaultReplicationFactor = 1
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if cfg.Holder == nil {
		cfg.Holder = new(metadata.Holder)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	c := &Controller{cfg: cfg, holder: cfg.Holder, logger: logger.With("controller", cfg.Node.ID), clock: cfg.Clock,
		rng: cfg.Rand, stop: make(chan struct{}), done: make(chan struct{})}
	c.sm.registered = map[int32]uint64{}
	c.sm.applied = make(chan struct{})
	nc := cfg.Node
	nc.StateMachine = (*stateMachine)(c)
	n, err := quorum.StartNode(nc)
	if err != nil {
		return nil, err
	}
	c.node = n
	go c.checkSessions()
	return c, nil
}

// Node is the controller's quorum voter: attach it to the transport.
func (c *Controller) Node() *quorum.Node { return c.node }

// Image is the current metadata image (the committed log as applied here).
func (c *Controller) Image() *metadata.Image { return c.holder.Load() }

// AppliedOffset is the metadata log offset of the last entry applied here
// (the entry's Raft index - 1; -1 before any): what a broker reports as its
// CurrentMetadataOffset in BrokerHeartbeat.
func (c *Controller) AppliedOffset() int64 {
	c.sm.Lock()
	defer c.sm.Unlock()
	return int64(c.sm.appliedIndex) - 1
}

// Leader is the node id of the Raft leader as this member knows it (0:
// none known), the controller clients should be sent to.
func (c *Controller) Leader() uint64 { return c.node.Status().Lead }

// Active reports whether this member is the active controller: the Raft
// leader, with an entry of its own term applied (so its image holds
// everything an earlier leader committed).
func (c *Controller) Active() bool {
	_, ok := c.activeTerm()
	return ok
}

func (c *Controller) activeTerm() (uint64, bool) {
	st := c.node.Status()
	if st.RaftState != raft.StateLeader {
		return 0, false
	}
	c.sm.Lock()
	defer c.sm.Unlock()
	return st.GetTerm(), c.sm.appliedTerm == st.GetTerm()
}

// Close stops the session checker and the quorum voter (not its storage).
func (c *Controller) Close() {
	c.stopOnce.Do(func() { close(c.stop) })
	<-c.done
	c.node.Stop()
}

// begin takes the operation lock if this member is the active controller,
// and starts a new session epoch when it became active in a new term: every
// registered broker is then treated as having just heartbeated, as KRaft's
// new active controller does. The caller unlocks c.mu.
func (c *Controller) begin() error {
	term, ok := c.activeTerm()
	if !ok {
		return kerr.NotController
	}
	c.mu.Lock()
	if term != c.term {
		c.term, c.since, c.contacts = term, c.clock(), map[int32]time.Time{}
		c.shutdowns, c.reported = map[int32]int64{}, map[int32]int64{}
	}
	return nil
}

// commit proposes records as one entry and waits until it is applied here.
// It returns nil once applied, NOT_CONTROLLER when leadership is lost
// first, REQUEST_TIMED_OUT when ctx ends, and UNKNOWN_SERVER_ERROR when the
// entry was committed but did not apply (a controller bug: every member
// skips it alike). Called with c.mu held.
func (c *Controller) commit(ctx context.Context, records []metadata.Record) error {
	if len(records) == 0 {
		return nil
	}
	data, err := metadata.AppendBatch(nil, c.clock().UnixMilli(), records)
	if err != nil {
		return fmt.Errorf("%w: %w", kerr.UnknownServerError, err)
	}
	term := c.term
	p := &proposal{data: data, result: make(chan error, 1)}
	c.sm.Lock()
	c.sm.pending = p
	c.sm.Unlock()
	defer func() {
		c.sm.Lock()
		c.sm.pending = nil
		c.sm.Unlock()
	}()
	if err := c.node.Propose(ctx, data); err != nil {
		if ctx.Err() != nil {
			return kerr.RequestTimedOut
		}
		return kerr.NotController
	}
	// Raft does not say when a proposal is dropped (a leader change): watch
	// the leadership while waiting.
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case err := <-p.result:
			return err
		case <-ctx.Done():
			return kerr.RequestTimedOut
		case <-c.node.Done():
			return kerr.NotController
		case <-c.stop:
			return kerr.NotController
		case <-ticker.C:
			if st := c.node.Status(); st.RaftState != raft.StateLeader || st.GetTerm() != term {
				return kerr.NotController
			}
		}
	}
}

// stateMachine is the Controller as the quorum Node's StateMachine: it
// applies committed entries (each one batch of metadata records) to the
// image. Its methods run on the Node's Ready loop.
type stateMachine Controller

// Restore implements quorum.StateMachine: the snapshot's data is the
// image's records as one batch (none for the empty image).
func (sm *stateMachine) Restore(snap *pb.Snapshot) error {
	img, err := RestoreImage(snap.GetData())
	if err != nil {
		return fmt.Errorf("controller: snapshot: %w", err)
	}
	sm.holder.Publish(img)
	md := snap.GetMetadata()
	sm.sm.Lock()
	sm.sm.appliedIndex, sm.sm.appliedTerm = md.GetIndex(), md.GetTerm()
	// A registration before the snapshot is at most at its index.
	clear(sm.sm.registered)
	for _, b := range img.Brokers() {
		sm.sm.registered[b.NodeID] = md.GetIndex()
	}
	sm.notifyAppliedLocked()
	sm.sm.Unlock()
	sm.published(img, md.GetIndex())
	return nil
}

// published tells Config.Applied of the image after the entry at index.
func (sm *stateMachine) published(img *metadata.Image, index uint64) {
	if sm.cfg.Applied != nil {
		sm.cfg.Applied(img, int64(index)-1)
	}
}

// Apply implements quorum.StateMachine. An entry that does not decode or
// apply is skipped whole, alike on every member (they hold the same image),
// and logged: it cannot stop the quorum.
func (sm *stateMachine) Apply(entries []*pb.Entry) error {
	img := sm.holder.Load()
	for _, e := range entries {
		next, records, applyErr := ApplyEntry(img, e)
		if applyErr != nil {
			sm.logger.Error("controller: skipping a metadata entry that does not apply", "index", e.GetIndex(), "err", applyErr)
			applyErr = fmt.Errorf("%w: %w", kerr.UnknownServerError, applyErr)
		} else if len(records) > 0 {
			img = next
			sm.holder.Publish(img)
			sm.noteRegistrations(records, e.GetIndex())
		}
		sm.sm.Lock()
		sm.sm.appliedIndex, sm.sm.appliedTerm = e.GetIndex(), e.GetTerm()
		if p := sm.sm.pending; p != nil && bytes.Equal(p.data, e.GetData()) {
			p.result <- applyErr
			sm.sm.pending = nil
		}
		sm.sm.Unlock()
	}
	sm.sm.Lock()
	sm.notifyAppliedLocked()
	sm.sm.Unlock()
	if len(entries) > 0 {
		sm.published(img, entries[len(entries)-1].GetIndex())
	}
	return nil
}

func (sm *stateMachine) noteRegistrations(records []metadata.Record, index uint64) {
	sm.sm.Lock()
	defer sm.sm.Unlock()
	for _, r := range records {
		if r, ok := r.(*metadata.RegisterBrokerRecord); ok {
			sm.sm.registered[r.NodeID] = index
		}
	}
}

// Snapshot implements quorum.StateMachine: the image's records as one
// batch, or nothing for the empty image.
func (sm *stateMachine) Snapshot() ([]byte, error) {
	records := sm.holder.Load().Records()
	if len(records) == 0 {
		return nil, nil
	}
	return metadata.AppendBatch(nil, sm.clock().UnixMilli(), records)
}

// newTopicID draws a random topic id that is not zero and not in img.
func (c *Controller) newTopicID(img *metadata.Image) metadata.UUID {
	for {
		var id metadata.UUID
		for i := 0; i < len(id); i += 8 {
			v := c.rng.Uint64()
			for j := range 8 {
				id[i+j] = byte(v >> (8 * j))
			}
		}
		if _, taken := img.TopicByID(id); id != (metadata.UUID{}) && !taken {
			return id
		}
	}
}

// CommittedOffset is the metadata offset of the last entry applied here:
// every operation this controller answered before the call is at or below
// it, so a broker that has applied up to it sees their effects.
func (c *Controller) CommittedOffset(context.Context) (int64, error) { return c.AppliedOffset(), nil }

// Import commits records as one entry, as the active controller: a
// single-node data directory's topics (with their ids) brought into the
// metadata log when the broker upgrades in place. Records that do not apply
// to the current image are refused whole (INVALID_REQUEST).
func (c *Controller) Import(ctx context.Context, records []metadata.Record) error {
	errs := c.operate(ctx, 1, false, func(img *metadata.Image, _ int) ([]metadata.Record, error) {
		if _, err := img.ApplyAll(records); err != nil {
			return nil, placementErr(kerr.InvalidRequest, "%v", err)
		}
		return records, nil
	})
	return errs[0]
}

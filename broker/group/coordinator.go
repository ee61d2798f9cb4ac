package group

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"

	"runnel/segment"
)

// Store is what the coordinator needs from the broker: the partitions of
// __consumer_offsets.
type Store interface {
	// Append appends batch (one RecordBatch v2 built by the coordinator)
	// to the partition and calls done once it is durable or failed, from
	// another goroutine and never before Append returns. The batch is
	// not used after Append returns.
	Append(partition int32, batch []byte, done func(error))
	// Replay calls fn with every batch of the partition, from its start to
	// its end, in order. The batch is valid only during the call.
	Replay(partition int32, fn func(batch []byte) error) error
}

// Config holds the coordinator's settings (Kafka's broker properties).
type Config struct {
	// Partitions is the partition count of __consumer_offsets
	// (offsets.topic.num.partitions).
	Partitions int32
	// MinSessionTimeout and MaxSessionTimeout bound the session timeout a
	// member may ask for (group.min/max.session.timeout.ms).
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// InitialRebalanceDelay is how long the first rebalance of an empty
	// group waits for more members (group.initial.rebalance.delay.ms).
	InitialRebalanceDelay time.Duration
	// OffsetsRetention is offsets.retention.minutes; checked every
	// OffsetsRetentionCheckInterval (offsets.retention.check.interval.ms).
	OffsetsRetention              time.Duration
	OffsetsRetentionCheckInterval time.Duration
	// OffsetMetadataMaxBytes caps a commit's metadata string
	// (offset.metadata.max.bytes).
	OffsetMetadataMaxBytes int
	// PartitionExists, when set, tells whether a topic partition exists;
	// commits to others get UNKNOWN_TOPIC_OR_PARTITION.
	PartitionExists func(topic string, partition int32) bool
	// TopicInfo and TopicName resolve topics for KIP-848 assignments (ids
	// and partition counts); ConsumerGroupHeartbeat is refused without
	// them.
	TopicInfo func(name string) (id [16]byte, partitions int32, ok bool)
	TopicName func(id [16]byte) (string, bool)
	// TopicNames lists every topic, internal ones included, for the
	// regular-expression subscriptions of KIP-848 members; version is
	// equal (==) between two calls when no topic was created or deleted
	// in between, so that resolved expressions can be kept. Without it
	// regular-expression subscriptions are refused.
	TopicNames func() (names []string, version any)
	// Owned tells which partitions of __consumer_offsets New loads: those
	// this node leads. nil: all of them (one node).
	Owned func(partition int32) bool
	// ConsumerSessionTimeout and ConsumerHeartbeatInterval are the
	// broker-side session and heartbeat interval of KIP-848 members
	// (group.consumer.session.timeout.ms, group.consumer.heartbeat.interval.ms).
	ConsumerSessionTimeout, ConsumerHeartbeatInterval time.Duration
	Clock                                             Clock // nil: the system clock
	Logger                                            *slog.Logger
}

// DefaultConfig is Kafka's defaults, with 50 partitions of __consumer_offsets.
func DefaultConfig() Config {
	return Config{
		Partitions:                    50,
		MinSessionTimeout:             6 * time.Second,
		MaxSessionTimeout:             30 * time.Minute,
		InitialRebalanceDelay:         3 * time.Second,
		OffsetsRetention:              7 * 24 * time.Hour,
		OffsetsRetentionCheckInterval: 10 * time.Minute,
		OffsetMetadataMaxBytes:        4096,
		ConsumerSessionTimeout:        45 * time.Second,
		ConsumerHeartbeatInterval:     5 * time.Second,
	}
}

// Coordinator coordinates the groups of the partitions of
// __consumer_offsets it serves (Config.Owned at New, then Load and Unload).
type Coordinator struct {
	cfg    Config
	store  Store
	clock  Clock
	logger *slog.Logger

	// partitions[p] holds the groups of partition p of __consumer_offsets
	// while this coordinator serves it, nil while it does not. A table is
	// replaced, never emptied: Unload swaps it out, then stops its groups.
	partitions []atomic.Pointer[groupTable]
	closed     atomic.Bool

	// Lock order: loadMu, which serializes Load, Unload, Close and the end
	// of a load, before a group's mu; expiryMu, which guards stopExpiry
	// only, is never held with a group's mu; a goroutine holds at most one
	// group's mu; and a group's mu is held while calling Config's topic
	// lookups (TopicInfo, TopicName, TopicNames), which must not call back
	// in.
	loadMu     sync.Mutex
	expiryMu   sync.Mutex
	stopExpiry func() bool
}

// groupTable is the groups of one partition of __consumer_offsets.
type groupTable struct {
	groups sync.Map // group name -> *group
	// loading: the partition is being replayed into groups by its loader
	// alone; requests get COORDINATOR_LOAD_IN_PROGRESS.
	loading atomic.Bool
}

// New replays the partitions of __consumer_offsets that cfg.Owned names
// (all without it) from store and starts the coordinator: groups with
// members come back Stable (their members must heartbeat within their
// session timeout), groups without members Empty.
func New(cfg Config, store Store) (*Coordinator, error) {
	if cfg.Partitions < 1 {
		return nil, fmt.Errorf("group: %d partitions of __consumer_offsets", cfg.Partitions)
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Coordinator{cfg: cfg, store: store, clock: cfg.Clock, logger: cfg.Logger,
		partitions: make([]atomic.Pointer[groupTable], cfg.Partitions)}
	start := time.Now()
	records, groups, served := 0, 0, 0
	for p := range cfg.Partitions {
		if cfg.Owned != nil && !cfg.Owned(p) {
			continue
		}
		t := new(groupTable)
		n, err := c.replayInto(t, p)
		if err != nil {
			return nil, err
		}
		records += n
		groups += t.start()
		served++
		c.partitions[p].Store(t)
	}
	c.logger.Info("group coordinator loaded", "groups", groups, "records", records, "partitions", served, "of", cfg.Partitions, "took", time.Since(start))
	c.scheduleExpiry()
	return c, nil
}

// replayInto replays partition p of __consumer_offsets into t, which
// nothing else uses meanwhile, and returns how many records it read.
func (c *Coordinator) replayInto(t *groupTable, p int32) (int, error) {
	records := 0
	err := c.store.Replay(p, func(batch []byte) error {
		recs, err := segment.Records(batch)
		if err != nil {
			return err
		}
		for _, r := range recs {
			records++
			c.replay(t, p, r.Key, r.Value)
		}
		return nil
	})
	if err != nil {
		return records, fmt.Errorf("group: replaying __consumer_offsets-%d: %w", p, err)
	}
	return records, nil
}

// replay applies one record read from partition p into t.
func (c *Coordinator) replay(t *groupTable, partition int32, key, value []byte) {
	r, err := DecodeRecord(key, value)
	if err != nil {
		c.logger.Error("skipping undecodable record of __consumer_offsets", "partition", partition, "err", err)
		return
	}
	if !r.IsOffset && r.Metadata == nil {
		t.groups.Delete(r.Group) // group deleted, its offsets before it
		return
	}
	v, ok := t.groups.Load(r.Group)
	if !ok {
		if r.IsOffset && r.Offset == nil {
			return // a tombstone of an offset already gone
		}
		v, _ = t.groups.LoadOrStore(r.Group, c.newGroup(r.Group))
	}
	g := v.(*group)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.replayLocked(r)
}

// start sets the replayed groups of t going (loadedLocked) and returns
// how many there are.
func (t *groupTable) start() int {
	n := 0
	t.groups.Range(func(_, v any) bool {
		g := v.(*group)
		g.mu.Lock()
		g.loadedLocked()
		g.mu.Unlock()
		n++
		return true
	})
	return n
}

// stop shuts down every group of t (shutdownLocked) and marks it Dead, so
// that its timers do nothing; it returns how many there were.
func (t *groupTable) stop() int {
	n := 0
	t.groups.Range(func(_, v any) bool {
		g := v.(*group)
		g.mu.Lock()
		if g.state != stateDead {
			g.shutdownLocked()
			g.setStateLocked(stateDead)
			n++
		}
		g.mu.Unlock()
		return true
	})
	return n
}

// Load starts serving partition p of __consumer_offsets (one this node
// now leads): its groups are replayed on a goroutine of their own, and
// until they are, requests for them get COORDINATOR_LOAD_IN_PROGRESS. A
// partition served or being loaded is left as it is; a load that fails is
// logged and leaves the partition unserved (NOT_COORDINATOR) until the
// next Load. Load never waits for the replay.
func (c *Coordinator) Load(p int32) {
	if p < 0 || int(p) >= len(c.partitions) {
		return
	}
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	if c.closed.Load() || c.partitions[p].Load() != nil {
		return
	}
	t := new(groupTable)
	t.loading.Store(true)
	c.partitions[p].Store(t)
	go c.load(p, t)
}

// load replays partition p into t and then serves it, unless it was
// unloaded (or the coordinator closed) meanwhile.
func (c *Coordinator) load(p int32, t *groupTable) {
	start := time.Now()
	records, err := c.replayInto(t, p)
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	if c.partitions[p].Load() != t || c.closed.Load() {
		return // no request saw these groups: dropping them is enough
	}
	if err != nil {
		c.logger.Error("loading the groups of a partition of __consumer_offsets failed; not coordinating them", "partition", p, "err", err)
		c.partitions[p].Store(nil)
		return
	}
	groups := t.start()
	t.loading.Store(false)
	c.logger.Info("groups loaded", "partition", p, "groups", groups, "records", records, "took", time.Since(start))
}

// Unload stops serving partition p of __consumer_offsets (one this node no
// longer leads): members waiting in JoinGroup or SyncGroup are answered
// NOT_COORDINATOR, as are later requests for its groups; commits in
// flight are answered when the Store reports their fate. A load in
// progress is abandoned. Unloading a partition not served does nothing.
func (c *Coordinator) Unload(p int32) {
	if p < 0 || int(p) >= len(c.partitions) {
		return
	}
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	t := c.partitions[p].Swap(nil)
	if t == nil || t.loading.Load() {
		return
	}
	c.logger.Info("groups unloaded", "partition", p, "groups", t.stop())
}

// Serves reports whether the coordinator serves partition p (loaded or
// loading).
func (c *Coordinator) Serves(p int32) bool {
	return p >= 0 && int(p) < len(c.partitions) && c.partitions[p].Load() != nil
}

// table is the group table of the partition of group name, or the error
// for a request about it: NOT_COORDINATOR when the coordinator does not
// serve that partition (or is closed), COORDINATOR_LOAD_IN_PROGRESS while
// it loads it.
func (c *Coordinator) table(name string) (*groupTable, *kerr.Error) {
	if c.closed.Load() {
		return nil, kerr.NotCoordinator
	}
	t := c.partitions[PartitionFor(name, c.cfg.Partitions)].Load()
	switch {
	case t == nil:
		return nil, kerr.NotCoordinator
	case t.loading.Load():
		return nil, kerr.CoordinatorLoadInProgress
	}
	return t, nil
}

// serving is the error for a request about group name that the
// coordinator does not serve now (see table); nil when it does.
func (c *Coordinator) serving(name string) *kerr.Error {
	_, err := c.table(name)
	return err
}

// served calls fn with each table of a partition served and loaded.
func (c *Coordinator) served(fn func(t *groupTable)) {
	for i := range c.partitions {
		if t := c.partitions[i].Load(); t != nil && !t.loading.Load() {
			fn(t)
		}
	}
}

// PartitionFor is the partition of __consumer_offsets holding a group's
// records: abs(hashCode(group)) mod partitions, with Java's String.hashCode
// as Kafka computes it.
func PartitionFor(group string, partitions int32) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(group)) {
		h = 31*h + int32(u)
	}
	return (h & 0x7fffffff) % partitions
}

// withGroup runs fn with the group named name locked, if there is one,
// and reports whether there was (see withGroupCreatedIf).
func (c *Coordinator) withGroup(name string, fn func(g *group)) (bool, *kerr.Error) {
	return c.withGroupCreatedIf(name, false, fn)
}

// withGroupCreatedIf runs fn with the group named name locked, and reports
// whether there was one: a group that does not exist is created first if
// create, and one found Dead (deleted meanwhile) is looked up again. When
// the coordinator does not serve the group's partition, fn does not run
// and the error says why (see table); the partition is checked again under
// the group's lock, so fn never runs on a group that Unload has stopped or
// will miss. The lock is taken and released here, so a handler's critical
// section is fn, a call to a …Locked function that never unlocks.
func (c *Coordinator) withGroupCreatedIf(name string, create bool, fn func(g *group)) (bool, *kerr.Error) {
	for {
		t, err := c.table(name)
		if err != nil {
			return false, err
		}
		v, ok := t.groups.Load(name)
		if !ok {
			if !create {
				return false, nil
			}
			v, _ = t.groups.LoadOrStore(name, c.newGroup(name))
		}
		g := v.(*group)
		g.mu.Lock()
		if g.state != stateDead && c.partitions[g.partition].Load() == t {
			defer g.mu.Unlock()
			fn(g)
			return true, nil
		}
		dead := g.state == stateDead
		g.mu.Unlock()
		if dead {
			t.groups.CompareAndDelete(name, g)
		}
		// Else the partition was unloaded meanwhile: the next lookup says so.
	}
}

// removeLocked takes a group that just became Dead out of its table.
func (c *Coordinator) removeLocked(g *group) {
	if t := c.partitions[g.partition].Load(); t != nil {
		t.groups.CompareAndDelete(g.name, g)
	}
}

// Close stops the timers and answers every JoinGroup and SyncGroup still
// waiting with NOT_COORDINATOR; later requests get NOT_COORDINATOR too.
// Commits in flight are answered when the Store reports their fate.
func (c *Coordinator) Close() {
	if c.closed.Swap(true) {
		return
	}
	c.expiryMu.Lock()
	if c.stopExpiry != nil {
		c.stopExpiry()
	}
	c.expiryMu.Unlock()
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	c.served(func(t *groupTable) {
		t.groups.Range(func(_, v any) bool {
			g := v.(*group)
			g.mu.Lock()
			g.shutdownLocked()
			g.mu.Unlock()
			return true
		})
	})
}

// scheduleExpiry runs the offset expiry pass every
// OffsetsRetentionCheckInterval until Close.
func (c *Coordinator) scheduleExpiry() {
	if c.cfg.OffsetsRetentionCheckInterval <= 0 {
		return
	}
	c.expiryMu.Lock()
	defer c.expiryMu.Unlock()
	if c.closed.Load() {
		return
	}
	c.stopExpiry = c.clock.AfterFunc(c.cfg.OffsetsRetentionCheckInterval, func() {
		c.ExpireOffsets()
		c.scheduleExpiry()
	})
}

// ExpireOffsets runs one offset expiry pass now (the background pass calls
// it every OffsetsRetentionCheckInterval).
func (c *Coordinator) ExpireOffsets() {
	if c.cfg.OffsetsRetention <= 0 {
		return
	}
	c.served(func(t *groupTable) {
		t.groups.Range(func(_, v any) bool {
			g := v.(*group)
			g.mu.Lock()
			if g.state != stateDead {
				g.expireOffsetsLocked()
			}
			g.mu.Unlock()
			return !c.closed.Load()
		})
	})
}

// appendLocked writes records for g durably and calls done with the result
// (holding no lock). Called with g.mu held, so that a group's records
// reach the log in the order its state changed.
func (g *group) appendLocked(records []segment.KeyValue, done func(error)) {
	batch := segment.BuildBatch(nil, g.c.clock.Now().UnixMilli(), records)
	g.c.store.Append(g.partition, batch, done)
}

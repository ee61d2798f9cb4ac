package group

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf16"

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

// Coordinator coordinates every group (this node is the coordinator of
// all of them).
type Coordinator struct {
	cfg    Config
	store  Store
	clock  Clock
	logger *slog.Logger

	groups sync.Map // group name -> *group
	closed atomic.Bool

	// Lock order: expiryMu, which guards stopExpiry only, is never held
	// with a group's mu; a goroutine holds at most one group's mu; and
	// a group's mu is held while calling Config's topic lookups
	// (TopicInfo, TopicName, TopicNames), which must not call back in.
	expiryMu   sync.Mutex
	stopExpiry func() bool
}

// New replays __consumer_offsets from store and starts the coordinator:
// groups with members come back Stable (their members must heartbeat
// within their session timeout), groups without members Empty.
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
	c := &Coordinator{cfg: cfg, store: store, clock: cfg.Clock, logger: cfg.Logger}
	start := time.Now()
	records := 0
	for p := int32(0); p < cfg.Partitions; p++ {
		err := store.Replay(p, func(batch []byte) error {
			recs, err := segment.Records(batch)
			if err != nil {
				return err
			}
			for _, r := range recs {
				records++
				c.replay(p, r.Key, r.Value)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("group: replaying __consumer_offsets-%d: %w", p, err)
		}
	}
	groups := 0
	c.groups.Range(func(_, v any) bool {
		g := v.(*group)
		g.mu.Lock()
		g.loadedLocked()
		g.mu.Unlock()
		groups++
		return true
	})
	c.logger.Info("group coordinator loaded", "groups", groups, "records", records, "partitions", cfg.Partitions, "took", time.Since(start))
	c.scheduleExpiry()
	return c, nil
}

// replay applies one record read at startup.
func (c *Coordinator) replay(partition int32, key, value []byte) {
	r, err := decodeRecord(key, value)
	if err != nil {
		c.logger.Error("skipping undecodable record of __consumer_offsets", "partition", partition, "err", err)
		return
	}
	if !r.isOffset && r.metadata == nil {
		c.groups.Delete(r.group) // group deleted, its offsets before it
		return
	}
	v, ok := c.groups.Load(r.group)
	if !ok {
		if r.isOffset && r.offset == nil {
			return // a tombstone of an offset already gone
		}
		v, _ = c.groups.LoadOrStore(r.group, c.newGroup(r.group))
	}
	g := v.(*group)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.replayLocked(r)
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
func (c *Coordinator) withGroup(name string, fn func(g *group)) bool {
	return c.withGroupCreatedIf(name, false, fn)
}

// withGroupCreatedIf runs fn with the group named name locked, and reports
// whether there was one: a group that does not exist is created first if
// create, and one found Dead (deleted meanwhile) is looked up again. The
// lock is taken and released here, so a handler's critical section is fn,
// a call to a …Locked function that never unlocks.
func (c *Coordinator) withGroupCreatedIf(name string, create bool, fn func(g *group)) bool {
	for {
		v, ok := c.groups.Load(name)
		if !ok {
			if !create {
				return false
			}
			v, _ = c.groups.LoadOrStore(name, c.newGroup(name))
		}
		g := v.(*group)
		g.mu.Lock()
		if g.state != stateDead {
			defer g.mu.Unlock()
			fn(g)
			return true
		}
		g.mu.Unlock()
		c.groups.CompareAndDelete(name, g)
	}
}

// removeLocked takes a group that just became Dead out of the table.
func (c *Coordinator) removeLocked(g *group) { c.groups.CompareAndDelete(g.name, g) }

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
	c.groups.Range(func(_, v any) bool {
		g := v.(*group)
		g.mu.Lock()
		g.shutdownLocked()
		g.mu.Unlock()
		return true
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
	c.groups.Range(func(_, v any) bool {
		g := v.(*group)
		g.mu.Lock()
		if g.state != stateDead {
			g.expireOffsetsLocked()
		}
		g.mu.Unlock()
		return !c.closed.Load()
	})
}

// appendLocked writes records for g durably and calls done with the result
// (holding no lock). Called with g.mu held, so that a group's records
// reach the log in the order its state changed.
func (g *group) appendLocked(records []segment.KeyValue, done func(error)) {
	batch := segment.BuildBatch(nil, g.c.clock.Now().UnixMilli(), records)
	g.c.store.Append(g.partition, batch, done)
}

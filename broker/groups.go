package broker

// Consumer groups: the broker's side of package group. The coordinator
// keeps its state in the internal topic __consumer_offsets, created at
// startup (with offsets.topic.num.partitions partitions, default 8; an
// existing topic keeps its count, which decides where each group's records
// go). This node coordinates the groups of the partitions of
// __consumer_offsets that the metadata image says it leads, every group
// while the image does not hold the topic (one node without a quorum):
// startGroups replays those partitions from their start, and groupsFollow
// loads and unloads partitions as their leadership moves. The topic's
// cleanup.policy is compact, so retention never deletes a commit and the
// log cleaner (cleaner.go) keeps only the latest record of each key.
//
// The handlers of the group APIs (find_coordinator.go, join_group.go,
// sync_group.go, heartbeat.go, leave_group.go, offset_commit.go,
// offset_fetch.go, offset_delete.go, describe_groups.go, list_groups.go,
// delete_groups.go, consumer_group_heartbeat.go for KIP-848) hand the
// decoded requests to the coordinator and finish their replies from its
// callbacks.

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"runnel/broker/group"
	"runnel/broker/metadata"
	"runnel/broker/replica"
	"runnel/segment"
)

// offsetsTopic is Kafka's internal topic for committed offsets and group
// metadata.
const offsetsTopic = "__consumer_offsets"

// offsetsTopicConfigs are the overrides __consumer_offsets is created
// with: never deleted by retention, small segments and indexes (each of
// its partitions is preallocated up to a segment, and most groups commit
// little).
var offsetsTopicConfigs = map[string]string{
	"cleanup.policy":      "compact",
	"segment.bytes":       strconv.Itoa(16 << 20),
	"segment.index.bytes": strconv.Itoa(1 << 20),
}

// GroupConfig holds the group coordinator's settings.
type GroupConfig struct {
	OffsetsTopicPartitions        int32         // offsets.topic.num.partitions
	MinSessionTimeout             time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout             time.Duration // group.max.session.timeout.ms
	InitialRebalanceDelay         time.Duration // group.initial.rebalance.delay.ms
	OffsetsRetention              time.Duration // offsets.retention.minutes
	OffsetsRetentionCheckInterval time.Duration // offsets.retention.check.interval.ms
	OffsetMetadataMaxBytes        int32         // offset.metadata.max.bytes
	ConsumerSessionTimeout        time.Duration // group.consumer.session.timeout.ms (KIP-848 groups)
	ConsumerHeartbeatInterval     time.Duration // group.consumer.heartbeat.interval.ms (KIP-848 groups)
}

// defaultGroupConfig is Kafka's defaults, except 8 partitions of
// __consumer_offsets instead of 50: on one node more partitions buy no
// parallelism and each costs a preallocated segment.
func defaultGroupConfig() GroupConfig {
	d := group.DefaultConfig()
	return GroupConfig{
		OffsetsTopicPartitions:        8,
		MinSessionTimeout:             d.MinSessionTimeout,
		MaxSessionTimeout:             d.MaxSessionTimeout,
		InitialRebalanceDelay:         d.InitialRebalanceDelay,
		OffsetsRetention:              d.OffsetsRetention,
		OffsetsRetentionCheckInterval: d.OffsetsRetentionCheckInterval,
		OffsetMetadataMaxBytes:        int32(d.OffsetMetadataMaxBytes),
		ConsumerSessionTimeout:        d.ConsumerSessionTimeout,
		ConsumerHeartbeatInterval:     d.ConsumerHeartbeatInterval,
	}
}

func init() {
	// The group keys live here, beside the code they configure.
	groups := func(c *Config) *GroupConfig { return &c.Groups }
	msKey := func(name string, field func(*GroupConfig) *time.Duration, lo int64) brokerKey {
		return brokerKey{name, setMs(func(c *Config) *time.Duration { return field(groups(c)) }, lo),
			func(c *Config) (string, bool) { return ms(*field(groups(c))), true }}
	}
	brokerKeys = append(brokerKeys,
		brokerKey{"offsets.topic.num.partitions", setInt32(func(c *Config) *int32 { return &c.Groups.OffsetsTopicPartitions }, 1),
			func(c *Config) (string, bool) { return itoa(c.Groups.OffsetsTopicPartitions), true }},
		brokerKey{"offset.metadata.max.bytes", setInt32(func(c *Config) *int32 { return &c.Groups.OffsetMetadataMaxBytes }, 0),
			func(c *Config) (string, bool) { return itoa(c.Groups.OffsetMetadataMaxBytes), true }},
		brokerKey{"offsets.retention.minutes", func(c *Config, v string) error {
			n, err := parseIntIn(v, 1, math.MaxInt32)
			c.Groups.OffsetsRetention = time.Duration(n) * time.Minute
			return err
		}, func(c *Config) (string, bool) {
			return strconv.FormatInt(int64(c.Groups.OffsetsRetention/time.Minute), 10), true
		}},
		msKey("offsets.retention.check.interval.ms", func(g *GroupConfig) *time.Duration { return &g.OffsetsRetentionCheckInterval }, 1),
		msKey("group.min.session.timeout.ms", func(g *GroupConfig) *time.Duration { return &g.MinSessionTimeout }, 0),
		msKey("group.max.session.timeout.ms", func(g *GroupConfig) *time.Duration { return &g.MaxSessionTimeout }, 0),
		msKey("group.initial.rebalance.delay.ms", func(g *GroupConfig) *time.Duration { return &g.InitialRebalanceDelay }, 0),
		msKey("group.consumer.session.timeout.ms", func(g *GroupConfig) *time.Duration { return &g.ConsumerSessionTimeout }, 1),
		msKey("group.consumer.heartbeat.interval.ms", func(g *GroupConfig) *time.Duration { return &g.ConsumerHeartbeatInterval }, 1),
	)
}

// startGroups creates __consumer_offsets if it does not exist (except in a
// cluster of several nodes, where the first FindCoordinator does:
// offsetsTopicLazy) and replays the partitions this node leads (all of
// them while the image does not hold the topic, none in a lazy cluster)
// into a new coordinator. Close closes the coordinator as it starts, so
// that joins waiting for a rebalance are answered before the connections
// drain. The image follower already runs: groupsFollow sees the
// coordinator (under adminMu) from the first image after it is made.
func (b *Broker) startGroups() error {
	gc := b.cfg.Groups
	if gc.MinSessionTimeout > gc.MaxSessionTimeout {
		return fmt.Errorf("broker: group.min.session.timeout.ms (%v) is above group.max.session.timeout.ms (%v)", gc.MinSessionTimeout, gc.MaxSessionTimeout)
	}
	partitions := b.offsetsTopicPartitions()
	lazy := b.offsetsTopicLazy() // cluster_groups.go
	if t, ok := b.image().Topic(offsetsTopic); ok {
		partitions = t.NumPartitions()
	} else if !lazy {
		if err := b.createOffsetsTopic(partitions); err != nil {
			return err
		}
	}
	cfg := group.Config{
		Partitions:                    partitions,
		MinSessionTimeout:             gc.MinSessionTimeout,
		MaxSessionTimeout:             gc.MaxSessionTimeout,
		InitialRebalanceDelay:         gc.InitialRebalanceDelay,
		OffsetsRetention:              gc.OffsetsRetention,
		OffsetsRetentionCheckInterval: gc.OffsetsRetentionCheckInterval,
		OffsetMetadataMaxBytes:        int(gc.OffsetMetadataMaxBytes),
		// The cluster's topics, as the image has them: a group commits
		// offsets of partitions led by other brokers too.
		PartitionExists: func(topic string, partition int32) bool {
			t, ok := b.image().Topic(topic)
			return ok && partition >= 0 && partition < t.NumPartitions()
		},
		TopicInfo: func(name string) ([16]byte, int32, bool) {
			t, ok := b.image().Topic(name)
			if !ok {
				return [16]byte{}, 0, false
			}
			return t.ID(), t.NumPartitions(), true
		},
		TopicName: func(id [16]byte) (string, bool) {
			if t, ok := b.image().TopicByID(id); ok {
				return t.Name(), true
			}
			return "", false
		},
		TopicNames:                b.topicNames,
		ConsumerSessionTimeout:    gc.ConsumerSessionTimeout,
		ConsumerHeartbeatInterval: gc.ConsumerHeartbeatInterval,
		Logger:                    b.logger.With("component", "groups"),
	}
	if it, ok := b.image().Topic(offsetsTopic); ok && it.NumPartitions() > 0 {
		cfg.Partitions = it.NumPartitions()
		cfg.Owned = func(p int32) bool { return b.leadsOffsetsPartition(it, p) }
	} else if lazy {
		// Nothing until the topic exists: groupsFollow loads the
		// partitions the image then places here.
		cfg.Owned = func(int32) bool { return false }
	}
	if cfg.Partitions != gc.OffsetsTopicPartitions {
		b.logger.Warn("__consumer_offsets has another partition count than offsets.topic.num.partitions (it existed, or runnel.max.partitions.per.topic is lower); keeping it", "partitions", cfg.Partitions, "configured", gc.OffsetsTopicPartitions)
	}
	c, err := group.New(cfg, offsetsStore{b})
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.adminMu.Lock() // the image follower may be running (groupsFollow)
	b.groups = c
	b.adminMu.Unlock()
	return nil
}

// offsetsTopicPartitions is the partition count __consumer_offsets is
// created with: offsets.topic.num.partitions, within the topic limit.
func (b *Broker) offsetsTopicPartitions() int32 {
	return min(b.cfg.Groups.OffsetsTopicPartitions, b.cfg.MaxPartitions)
}

// offsetsStore gives the coordinator the partitions of __consumer_offsets.
type offsetsStore struct{ b *Broker }

// Append appends the coordinator's batch and reports when the flusher has
// made it durable, whatever the flush policy: a commit is answered only
// once it survives a crash; on a replicated partition, also once the high
// watermark covers it (an acks=all write, min.insync.replicas included).
func (s offsetsStore) Append(partition int32, batch []byte, done func(error)) {
	p, err := s.b.partition(offsetsTopic, partition)
	if err != nil {
		go done(err)
		return
	}
	h, err := segment.ParseBatchHeader(batch)
	if err != nil {
		go done(err)
		return
	}
	it, _ := s.b.image().Topic(offsetsTopic)
	opts := segment.AppendOptions{LeaderEpoch: leaderEpoch(it, partition)}
	var leader *replica.Leader
	if p.replicated.Load() {
		if leader = p.leaderState(); leader == nil || !leader.BeginAppend() {
			go done(errNotLeader)
			return
		}
		opts.LeaderEpoch = leader.LeaderEpoch()
	}
	info, err := p.log.Append(batch, opts)
	if leader != nil {
		leader.EndAppend()
	}
	if err != nil {
		go done(err)
		return
	}
	p.flusher.Appended(p.log, int64(h.RecordCount))
	end := info.LastOffset + 1
	if leader == nil {
		p.flusher.Wait(p.log, end, done)
		return
	}
	// Replicated: an acks=all write, once it is also durable here.
	minISR := p.config().minISR
	p.flusher.Wait(p.log, end, func(err error) {
		if err != nil {
			done(err)
			return
		}
		leader.Advance()
		leader.Wait(end, minISR, done)
	})
}

// replayReadBytes is how much of __consumer_offsets one read brings in
// (at least one whole batch).
const replayReadBytes = 1 << 20

// Replay reads the partition's batches from its start to its end.
func (s offsetsStore) Replay(partition int32, fn func(batch []byte) error) error {
	p, err := s.b.partition(offsetsTopic, partition)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil // led by another broker (cluster): nothing to load here
	}
	if err != nil {
		return err
	}
	var buf []byte
	next, end := p.log.StartOffset(), p.log.EndOffset()
	for next < end {
		rr, err := p.log.Read(next, replayReadBytes, segment.ReadOptions{MinOneBatch: true})
		if err != nil {
			return err
		}
		n := int(rr.Range.Size)
		if n == 0 {
			rr.Release()
			break
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		data := buf[:n]
		_, err = rr.Range.File.ReadAt(data, rr.Range.Position)
		rr.Release()
		if err != nil {
			return err
		}
		before := next
		for len(data) >= segment.BatchHeaderSize {
			h, err := segment.ParseBatchHeader(data)
			if err != nil {
				return err
			}
			if h.Size() > len(data) {
				break // cut by the read size: read again from here
			}
			if h.LastOffset() >= next {
				if err := fn(data[:h.Size()]); err != nil {
					return fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
				}
				next = h.LastOffset() + 1
			}
			data = data[h.Size():]
		}
		if next == before {
			return fmt.Errorf("no progress reading at offset %d", next)
		}
	}
	return nil
}

// topicNames lists every topic, __consumer_offsets included, for the
// regular-expression subscriptions of consumer groups. The version is the
// topic table, which is replaced whenever a topic is created or deleted;
// the list is kept for it, so a heartbeat with nothing new costs nothing.
func (b *Broker) topicNames() (names []string, version any) {
	tab := b.table.Load()
	if c := b.topicNamesCache.Load(); c != nil && c.table == tab {
		return c.names, tab
	}
	names = make([]string, 0, len(tab.byName))
	for name := range tab.byName {
		names = append(names, name)
	}
	slices.Sort(names)
	b.topicNamesCache.Store(&topicNamesCache{table: tab, names: names})
	return names, tab
}

// topicNamesCache is the sorted topic names of one topic table.
type topicNamesCache struct {
	table *topicTable
	names []string
}

// groupsFollow moves group coordination with the image: called after each
// image this broker applies (prev is the one before), from the one
// goroutine that applies them, with the coordinator c it read under
// adminMu (nil before startGroups has made it). It
// loads the groups of the __consumer_offsets partitions next says this
// node leads and the coordinator does not serve, and unloads those it
// serves and no longer leads; loads run in the background, so it never
// waits. It compares next with what the coordinator serves rather than
// with prev, so an image it did not see (one applied before startGroups)
// cannot leave a partition behind. An image without the topic changes
// nothing: the coordinator keeps what it serves.
func (b *Broker) groupsFollow(c *group.Coordinator, prev, next *metadata.Image) {
	t, ok := next.Topic(offsetsTopic)
	if c == nil || !ok {
		return
	}
	for p := range t.NumPartitions() {
		switch leads := b.leadsOffsetsPartition(t, p); {
		case leads && !c.Serves(p):
			c.Load(p)
		case !leads && c.Serves(p):
			c.Unload(p)
		}
	}
}

// leadsOffsetsPartition reports whether the image's __consumer_offsets t
// has this node lead partition p.
func (b *Broker) leadsOffsetsPartition(t *metadata.Topic, p int32) bool {
	part, ok := t.Partition(p)
	return ok && part.Leader == b.cfg.NodeID
}

package broker

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/segment"
)

// Topic configs. A topic stores only the keys set on it (its overrides);
// every other key takes the broker's default, which is Kafka's default
// unless server.properties sets the broker synonym (log.segment.bytes for
// segment.bytes, ...). CreateTopics, AlterConfigs and
// IncrementalAlterConfigs validate values with the same parsers as the
// broker's properties file.

// topicConfigDef describes one topic-level config key.
type topicConfigDef struct {
	name      string
	typ       kmsg.ConfigType
	synonym   string // the broker property that sets the default ("": none)
	kafkaDflt string // Kafka's default
	check     func(v string) error
	doc       string
}

// topicConfigDefs lists the topic configs Runnel knows, sorted by name.
var topicConfigDefs = []topicConfigDef{
	{"cleanup.policy", kmsg.ConfigTypeList, "log.cleanup.policy", "delete", checkList("delete", "compact"),
		"delete: old segments are removed by retention.ms/retention.bytes; compact: the log cleaner keeps the latest record of each key; compact,delete: both"},
	{"delete.retention.ms", kmsg.ConfigTypeLong, "log.cleaner.delete.retention.ms", "86400000", checkInt(0, math.MaxInt64),
		"compacted topics: how long a tombstone is kept after the clean that first passed it"},
	{"flush.messages", kmsg.ConfigTypeLong, "log.flush.interval.messages", strconv.FormatInt(math.MaxInt64, 10), checkInt(1, math.MaxInt64),
		"interval flush policy: fsync after this many messages (a topic override holds to within 100 ms)"},
	{"flush.ms", kmsg.ConfigTypeLong, "log.flush.interval.ms", strconv.FormatInt(math.MaxInt64, 10), checkInt(0, math.MaxInt64),
		"interval flush policy: fsync data unflushed for this long (a topic override holds to within 100 ms)"},
	{"follower.replication.throttled.replicas", kmsg.ConfigTypeList, "", "", checkThrottledReplicas,
		"replicas (partition:broker, or * for all) whose fetches from the leader are throttled to follower.replication.throttled.rate"},
	{"index.interval.bytes", kmsg.ConfigTypeInt, "log.index.interval.bytes", "4096", checkInt(0, math.MaxInt32),
		"bytes of log between offset index entries"},
	{"leader.replication.throttled.replicas", kmsg.ConfigTypeList, "", "", checkThrottledReplicas,
		"replicas (partition:broker, or * for all) whose leader throttles what it sends to followers to leader.replication.throttled.rate"},
	{"max.compaction.lag.ms", kmsg.ConfigTypeLong, "log.cleaner.max.compaction.lag.ms", strconv.FormatInt(math.MaxInt64, 10), checkInt(1, math.MaxInt64),
		"compacted topics: a record stays uncompacted at most this long, whatever the dirty ratio"},
	{"max.message.bytes", kmsg.ConfigTypeInt, "message.max.bytes", "1048588", checkInt(0, math.MaxInt32),
		"largest record batch the topic accepts"},
	{"message.timestamp.type", kmsg.ConfigTypeString, "log.message.timestamp.type", "CreateTime", checkOneOf("CreateTime", "LogAppendTime"),
		"CreateTime keeps the producer's timestamps; LogAppendTime stamps the broker's clock"},
	{"min.cleanable.dirty.ratio", kmsg.ConfigTypeDouble, "log.cleaner.min.cleanable.ratio", "0.5", checkFloat(0, 1),
		"compacted topics: clean a log when its dirty section is at least this part of it"},
	{"min.compaction.lag.ms", kmsg.ConfigTypeLong, "log.cleaner.min.compaction.lag.ms", "0", checkInt(0, math.MaxInt64),
		"compacted topics: a record stays uncompacted at least this long"},
	{"min.insync.replicas", kmsg.ConfigTypeInt, "min.insync.replicas", "1", checkInt(1, math.MaxInt32),
		"acks=all produces need at least this many in-sync replicas: NOT_ENOUGH_REPLICAS before an append, NOT_ENOUGH_REPLICAS_AFTER_APPEND after it"},
	{"retention.bytes", kmsg.ConfigTypeLong, "log.retention.bytes", "-1", checkInt(-1, math.MaxInt64),
		"delete old segments while the partition is larger than this (-1: no limit)"},
	{"retention.ms", kmsg.ConfigTypeLong, "log.retention.ms", "604800000", checkInt(-1, math.MaxInt64),
		"delete segments whose newest record is older than this (-1: forever)"},
	{"segment.bytes", kmsg.ConfigTypeInt, "log.segment.bytes", "1073741824", checkInt(1024, math.MaxInt32),
		"roll to a new segment at this size"},
	{"segment.index.bytes", kmsg.ConfigTypeInt, "log.index.size.max.bytes", "10485760", checkInt(48, math.MaxInt32),
		"size of a segment's offset index (a full index rolls the segment)"},
	{"segment.ms", kmsg.ConfigTypeLong, "log.roll.ms", "604800000", checkInt(1, math.MaxInt64),
		"roll to a new segment after this long"},
	{"unclean.leader.election.enable", kmsg.ConfigTypeBoolean, "unclean.leader.election.enable", "false", checkBool,
		"let a replica outside the ISR lead when no ISR member is available (what it lacks is lost)"},
}

// deprecatedTopicConfigs are the topic configs that Kafka 3.x deprecated
// (and Kafka 4.0 removed) and that mean nothing to Runnel:
// message.format.version (ignored by Kafka itself since 3.0),
// message.downconversion.enable (Runnel converts no formats) and
// message.timestamp.difference.max.ms (superseded in 3.6 by the
// message.timestamp.before/after.max.ms pair; Runnel checks no timestamp
// window). Scripts and clients written for Kafka 3 set them, so they are
// accepted: the value is validated as Kafka 3.x validates it, a warning is
// logged, and the key is dropped (not stored, not described).
var deprecatedTopicConfigs = map[string]func(string) error{
	"message.downconversion.enable":       checkBool,
	"message.format.version":              checkMessageFormatVersion,
	"message.timestamp.difference.max.ms": checkInt(0, math.MaxInt64),
}

// messageFormatVersion matches Kafka's version strings: 0.10.0, 0.10.0-IV1,
// 2.8, 3.0-IV1 and so on.
var messageFormatVersion = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?(-IV[0-9]+)?$`)

func checkMessageFormatVersion(v string) error {
	if !messageFormatVersion.MatchString(strings.TrimSpace(v)) {
		return fmt.Errorf("want a Kafka version such as 2.8 or 3.0-IV1")
	}
	return nil
}

// checkBool accepts true or false in any case, as Kafka does.
func checkBool(v string) error {
	if v = strings.TrimSpace(v); !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
		return fmt.Errorf("want true or false")
	}
	return nil
}

// deprecatedConfig reports (and logs) a config Kafka 3.x deprecated, with
// a value that passes its check, which the broker accepts and drops before
// the change goes to the controller; a bad value is left for the
// controller to refuse.
func (b *Broker) deprecatedConfig(topic, key string, value *string) bool {
	check, ok := deprecatedTopicConfigs[key]
	if !ok || value == nil || check(*value) != nil {
		return false
	}
	b.logger.Warn("topic config deprecated in Kafka 3.x is accepted and ignored", "topic", topic, "config", key, "value", *value)
	return true
}

func topicConfigDefFor(name string) (topicConfigDef, bool) {
	i := sort.Search(len(topicConfigDefs), func(i int) bool { return topicConfigDefs[i].name >= name })
	if i < len(topicConfigDefs) && topicConfigDefs[i].name == name {
		return topicConfigDefs[i], true
	}
	return topicConfigDef{}, false
}

// checkTopicConfig validates one key and value as a topic override.
func checkTopicConfig(name, value string) error {
	check := deprecatedTopicConfigs[name]
	if def, ok := topicConfigDefFor(name); ok {
		check = def.check
	}
	if check == nil {
		return fmt.Errorf("unknown topic config %q", name)
	}
	if err := check(value); err != nil {
		return fmt.Errorf("invalid value %q for %s: %w", value, name, err)
	}
	return nil
}

func checkInt(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("want an integer")
		}
		if n < lo || n > hi {
			return fmt.Errorf("want %d..%d", lo, hi)
		}
		return nil
	}
}

func checkFloat(lo, hi float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return fmt.Errorf("want a number")
		}
		if f < lo || f > hi {
			return fmt.Errorf("want %g..%g", lo, hi)
		}
		return nil
	}
}

func checkOneOf(allowed ...string) func(string) error {
	return func(v string) error {
		for _, a := range allowed {
			if strings.TrimSpace(v) == a {
				return nil
			}
		}
		return fmt.Errorf("want one of %s", strings.Join(allowed, ", "))
	}
}

func checkList(allowed ...string) func(string) error {
	one := checkOneOf(allowed...)
	return func(v string) error {
		items := strings.Split(v, ",")
		for _, it := range items {
			if err := one(it); err != nil {
				return fmt.Errorf("want a comma-separated list of %s", strings.Join(allowed, ", "))
			}
		}
		return nil
	}
}

// topicSettings are a topic's configs resolved and parsed; immutable (an
// alter builds new settings and swaps the pointer).
type topicSettings struct {
	// values holds every known key's effective value, overrides and
	// broker defaults merged.
	values map[string]string
	// overrides are the keys set on the topic itself (persisted).
	overrides map[string]string
	// log is what the partitions' segment.Logs run with.
	log segment.Config
	// maxMessageBytes caps a produce request's record batch.
	maxMessageBytes int32
	// logAppendTime: stamp batches with the broker's clock.
	logAppendTime bool
	// minISR is min.insync.replicas.
	minISR int
	// flushMessages and flushInterval are the topic's interval-flush
	// settings (0 = never).
	flushMessages int64
	flushInterval time.Duration
}

// topicSettings resolves a topic's settings on this broker: its overrides
// over the broker's topic defaults, with the broker's log settings.
func (c *Config) topicSettings(overrides map[string]string) (*topicSettings, error) {
	s, err := resolveTopicSettings(c.TopicDefaults, overrides, c.PreallocateBytes)
	if err == nil {
		s.log.ProducerIDExpiration = c.ProducerIDExpiration
		s.log.DropBehind = c.DropBehind
		s.log.CacheKeepBytes = c.CacheKeepBytes
	}
	return s, err
}

// resolveTopicSettings merges a topic's overrides over the broker defaults
// and parses them; both maps were validated when they were set.
func resolveTopicSettings(defaults, overrides map[string]string, preallocate int64) (*topicSettings, error) {
	s := &topicSettings{values: make(map[string]string, len(topicConfigDefs))}
	for _, def := range topicConfigDefs {
		v, ok := overrides[def.name]
		if !ok {
			v, ok = defaults[def.name]
		}
		if !ok {
			v = def.kafkaDflt
		}
		if err := def.check(v); err != nil {
			return nil, fmt.Errorf("invalid value %q for %s: %w", v, def.name, err)
		}
		s.values[def.name] = strings.TrimSpace(v)
	}
	num := func(name string) int64 {
		n, _ := strconv.ParseInt(s.values[name], 10, 64) // validated above
		return n
	}
	s.log = segment.DefaultConfig()
	s.log.SegmentBytes = num("segment.bytes")
	s.log.SegmentMs = msDuration(num("segment.ms"))
	s.log.IndexIntervalBytes = int(num("index.interval.bytes"))
	s.log.SegmentIndexBytes = int(num("segment.index.bytes"))
	s.log.RetentionMs = msDuration(num("retention.ms"))
	s.log.RetentionBytes = num("retention.bytes")
	s.log.PreallocateBytes = preallocate
	if !strings.Contains(s.values["cleanup.policy"], "delete") {
		s.log.RetentionMs, s.log.RetentionBytes = -1, -1 // compact alone: nothing ages out
	}
	s.log.Compact = strings.Contains(s.values["cleanup.policy"], "compact")
	s.log.MinCleanableDirtyRatio, _ = strconv.ParseFloat(s.values["min.cleanable.dirty.ratio"], 64) // validated above
	s.log.MinCompactionLag = msDuration(num("min.compaction.lag.ms"))
	s.log.MaxCompactionLag = msDuration(num("max.compaction.lag.ms"))
	s.log.DeleteRetention = msDuration(num("delete.retention.ms"))
	s.maxMessageBytes = int32(num("max.message.bytes"))
	s.minISR = int(num("min.insync.replicas"))
	s.logAppendTime = s.values["message.timestamp.type"] == "LogAppendTime"
	if n := num("flush.messages"); n != math.MaxInt64 {
		s.flushMessages = n
	}
	if n := num("flush.ms"); n != math.MaxInt64 {
		s.flushInterval = msDuration(n)
	}
	return s, nil
}

// msDuration converts Kafka milliseconds to a Duration: negative stays
// negative (-1 = forever), and values too large for a Duration saturate.
func msDuration(ms int64) time.Duration {
	if ms < 0 {
		return -1
	}
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64
	}
	return time.Duration(ms) * time.Millisecond
}

package broker

// Replication throttles, as Kafka's ReplicationQuotaManager (KIP-73): the
// bytes a leader sends to followers and a follower fetches from leaders,
// for the replicas a topic names, are held to a rate per broker.
//
// The rates are the broker configs leader.replication.throttled.rate and
// follower.replication.throttled.rate (bytes/s): this broker's dynamic
// config (IncrementalAlterConfigs on broker resource "<node id>"), else
// the cluster's (resource ""), else server.properties, else none
// (math.MaxInt64). Which partitions they apply to is the topic configs
// leader.replication.throttled.replicas and
// follower.replication.throttled.replicas: "partition:broker" entries
// (kafka-reassign-partitions.sh --throttle lists the current replicas on
// the leader side and the moving ones on the follower side), or "*" for
// every replica; an entry applies on the broker it names. Both are read
// from the image at each call, so a change applies at once.
//
// A side's throttled partitions share one bucket of bytes that refills at
// the rate and holds at most one second of it. As in Kafka, bytes are
// counted once sent and may overdraw the bucket: a follower leaves a
// throttled partition out of its fetches (replica.FetchersConfig.Throttle),
// a leader answers it with no records (fetch_replica.go), only while the
// bucket is overdrawn, so one batch larger than a second's worth still goes
// through. Neither holds back a replica in sync (Kafka's
// shouldFollowerThrottle and shouldLeaderThrottle).

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
)

// replicationSide is which end of replication a throttle holds back.
type replicationSide int

const (
	// leaderSide: a leader answering its followers' fetches.
	leaderSide replicationSide = iota
	// followerSide: a follower fetching from leaders.
	followerSide
)

// Config keys of each side: the rate (a broker config) and the replicas it
// applies to (a topic config).
var (
	throttledRateKey     = [2]string{"leader.replication.throttled.rate", "follower.replication.throttled.rate"}
	throttledReplicasKey = [2]string{"leader.replication.throttled.replicas", "follower.replication.throttled.replicas"}
)

// throttledRate is the brokerKey of a side's rate in server.properties.
func throttledRate(side replicationSide) brokerKey {
	return brokerKey{throttledRateKey[side], func(c *Config, v string) error {
		n, err := parseIntIn(v, 0, math.MaxInt64)
		c.ReplicationThrottledRate[side] = n
		return err
	}, func(c *Config) (string, bool) { return strconv.FormatInt(c.ReplicationThrottledRate[side], 10), true }}
}

// checkThrottledRate checks a dynamic rate as Kafka does: a long, at least 0.
func checkThrottledRate(v string) error {
	if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil || n < 0 {
		return fmt.Errorf("want a rate in bytes per second, 0 or more")
	}
	return nil
}

// dynamicBrokerConfig is the controller's Rules.BrokerConfig: the
// replication throttle rates are the broker configs that may be set while
// the cluster runs.
func dynamicBrokerConfig(key, value string) (bool, error) {
	if key != throttledRateKey[leaderSide] && key != throttledRateKey[followerSide] {
		return false, nil
	}
	if err := checkThrottledRate(value); err != nil {
		return true, fmt.Errorf("invalid value %q for %s: %w", value, key, err)
	}
	return true, nil
}

// checkThrottledReplicas checks a throttled replicas list as Kafka's
// ThrottledReplicaListValidator: "*", or partition:broker entries
// separated by commas (spaces around them allowed); "" is none.
func checkThrottledReplicas(v string) error {
	if strings.TrimSpace(v) == "*" || strings.TrimSpace(v) == "" {
		return nil
	}
	for entry := range strings.SplitSeq(v, ",") {
		p, b, ok := strings.Cut(strings.TrimSpace(entry), ":")
		if !ok || !isDecimal(p) || !isDecimal(b) {
			return fmt.Errorf("want * or a list of partition:broker entries such as 0:101,0:102,1:101")
		}
	}
	return nil
}

func isDecimal(s string) bool {
	_, err := strconv.ParseUint(s, 10, 31)
	return err == nil
}

// throttledReplica reports whether list (a throttled replicas config)
// names partition on broker node.
func throttledReplica(list string, partition, node int32) bool {
	if strings.TrimSpace(list) == "*" {
		return true
	}
	for entry := range strings.SplitSeq(list, ",") {
		p, b, _ := strings.Cut(strings.TrimSpace(entry), ":")
		if pn, err := strconv.ParseInt(p, 10, 32); err == nil && int32(pn) == partition {
			if bn, err := strconv.ParseInt(b, 10, 32); err == nil && int32(bn) == node {
				return true
			}
		}
	}
	return false
}

// replicationRate is side's rate on this broker in img (math.MaxInt64:
// none).
func (b *Broker) replicationRate(img *metadata.Image, side replicationSide) int64 {
	key := throttledRateKey[side]
	for _, name := range []string{strconv.Itoa(int(b.cfg.NodeID)), ""} {
		if v, ok := img.Config(metadata.ConfigResource{Type: metadata.ResourceBroker, Name: name}, key); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return n
			}
		}
	}
	return b.cfg.ReplicationThrottledRate[side]
}

// withDynamicRate describes a replication throttle rate (any other
// config is returned as it is) as DescribeConfigs shows a dynamic broker
// config: this broker's value, else the cluster's, over e, the static one.
func (b *Broker) withDynamicRate(e configEntry) configEntry {
	if e.name != throttledRateKey[leaderSide] && e.name != throttledRateKey[followerSide] {
		return e
	}
	e.readOnly, e.typ = false, kmsg.ConfigTypeLong
	img := b.image()
	var set []configSynonym
	for _, level := range []struct {
		name   string
		source kmsg.ConfigSource
	}{{strconv.Itoa(int(b.cfg.NodeID)), kmsg.ConfigSourceDynamicBrokerConfig}, {"", kmsg.ConfigSourceDynamicDefaultBrokerConfig}} {
		if v, ok := img.Config(metadata.ConfigResource{Type: metadata.ResourceBroker, Name: level.name}, e.name); ok {
			set = append(set, configSynonym{e.name, v, level.source})
		}
	}
	if len(set) > 0 {
		e.value, e.source = set[0].value, set[0].source
		e.synonyms = append(set, e.synonyms...)
	}
	return e
}

// replicationThrottle returns the bucket the replication bytes of
// partition of topic go through on side, or nil when they are not
// throttled on this broker. The leader's fetch serving calls it with
// leaderSide for each partition a follower fetches
// (fetch.leaderThrottled), the follower's fetcher with followerSide for
// each partition it fetches (followerThrottle).
func (b *Broker) replicationThrottle(side replicationSide, topic string, partition int32) *throttleBucket {
	img := b.image()
	rate := b.replicationRate(img, side)
	if rate == math.MaxInt64 {
		return nil
	}
	list, ok := img.Config(metadata.ConfigResource{Type: metadata.ResourceTopic, Name: topic}, throttledReplicasKey[side])
	if !ok || !throttledReplica(list, partition, b.cfg.NodeID) {
		return nil
	}
	t := &b.replicationThrottles[side]
	t.setRate(rate)
	return t
}

// throttleBucket is one side's byte bucket (a token bucket that bytes may
// overdraw). The zero value is ready; its rate is set by each
// replicationThrottle.
type throttleBucket struct {
	now func() time.Time // nil: time.Now
	mu  struct {
		sync.Mutex
		rate   int64   // bytes per second
		tokens float64 // bytes that may go; negative when overdrawn
		last   time.Time
	}
}

func (t *throttleBucket) clock() time.Time {
	if t.now != nil {
		return t.now()
	}
	return time.Now()
}

// setRate makes rate (bytes/s) the bucket's.
func (t *throttleBucket) setRate(rate int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.rate == rate && !t.mu.last.IsZero() {
		return
	}
	now := t.clock()
	if !t.mu.last.IsZero() {
		t.refillLocked(now) // at the old rate, until now
	}
	t.mu.rate = rate
	t.refillLocked(now) // a bucket first used starts full
	t.mu.tokens = min(t.mu.tokens, float64(rate))
}

// refillLocked adds what the rate gave since the last refill, up to one
// second's worth (a bucket first used starts full).
func (t *throttleBucket) refillLocked(now time.Time) {
	if t.mu.last.IsZero() {
		t.mu.tokens = float64(t.mu.rate)
	} else if elapsed := now.Sub(t.mu.last); elapsed > 0 {
		t.mu.tokens = min(float64(t.mu.rate), t.mu.tokens+elapsed.Seconds()*float64(t.mu.rate))
	}
	t.mu.last = now
}

// Allowed reports whether bytes may go now: the bucket is not overdrawn.
// A leader leaves a throttled partition out of a follower's fetch answer
// while it is not (as Kafka's leader does when the quota is exceeded).
func (t *throttleBucket) Allowed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refillLocked(t.clock())
	return t.mu.tokens > 0
}

// Record takes n bytes that went (sent by a leader, fetched by a
// follower) out of the bucket, which they may overdraw; a follower's
// fetcher leaves a throttled partition out while it is.
func (t *throttleBucket) Record(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refillLocked(t.clock())
	t.mu.tokens -= float64(n)
}

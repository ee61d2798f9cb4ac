package broker

// Replica fetches (issue 13): a Fetch whose ReplicaID (v4-v14) or
// ReplicaState.ID (v15+) is a broker id comes from a follower, and is
// served as Kafka's Partition.fetchRecords serves one, on the same path as
// consumers' fetches (fetch.go: zero-copy reads, framing, long polling on
// the logs' Changed signals). Per partition:
//
//   - NOT_LEADER_OR_FOLLOWER unless this broker leads the partition with
//     replication (partition.leaderState); a CurrentLeaderEpoch older than
//     the leader's is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH.
//   - Divergence (v12+, KIP-320): with a LastFetchedEpoch, the leader's
//     end offset for that epoch (OffsetForLeaderEpoch's answer); when the
//     epoch it finds is older, or that end lies below the fetch offset, the
//     answer is DivergingEpoch (that epoch and end offset), no records, and
//     it goes out at once. An epoch without an end (newer than any the
//     leader knows) is OFFSET_OUT_OF_RANGE, as in Kafka.
//   - Else the records from FetchOffset up to the log end (not the high
//     watermark, whatever the flush policy), then
//     replica.Leader.FollowerFetched records the follower's log end and
//     gives the high watermark to send, with the log start offset; a
//     broker that is not a replica of the partition gets
//     NOT_LEADER_OR_FOLLOWER, as in Kafka. OFFSET_OUT_OF_RANGE as for
//     consumers.
//
// Throttles (replication_throttle.go): a partition throttled on the leader
// side (leader.replication.throttled.rate and .replicas), fetched by a
// follower outside its ISR, is answered with no records (the watermarks as
// usual) while the bucket is exhausted, and the bytes sent of it are
// recorded, as Kafka's ReplicaManager (shouldLeaderThrottle) does.
//
// Sessions (KIP-227): as consumers' (fetchsession.go), with the
// LastFetchedEpoch kept per partition for the divergence check, a
// DivergingEpoch always answered, and the session privileged in the cache
// (a follower's is evicted before no consumer's). Record bytes sent to
// followers are counted in runnel_replication_bytes_out_total.

import (
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/replica"
	"runnel/segment"
)

// ReplicaFetchConfig is how this broker's followers fetch, Kafka's
// replica.fetch.* settings: replica.FetchersConfig's MaxWait, MinBytes,
// PartitionMaxBytes, MaxBytes, Backoff and Timeout.
type ReplicaFetchConfig struct {
	Wait             time.Duration // replica.fetch.wait.max.ms
	MinBytes         int32         // replica.fetch.min.bytes
	MaxBytes         int32         // replica.fetch.max.bytes, per partition
	ResponseMaxBytes int32         // replica.fetch.response.max.bytes
	Backoff          time.Duration // replica.fetch.backoff.ms
	SocketTimeout    time.Duration // replica.socket.timeout.ms, beyond the wait
}

// defaultReplicaFetch is Kafka's defaults.
var defaultReplicaFetch = ReplicaFetchConfig{
	Wait: 500 * time.Millisecond, MinBytes: 1, MaxBytes: 1 << 20, ResponseMaxBytes: 10 << 20,
	Backoff: time.Second, SocketTimeout: 30 * time.Second,
}

func (c ReplicaFetchConfig) apply(f *replica.FetchersConfig) {
	f.MaxWait, f.MinBytes, f.PartitionMaxBytes, f.MaxBytes = c.Wait, c.MinBytes, c.MaxBytes, c.ResponseMaxBytes
	f.Backoff, f.Timeout = c.Backoff, c.SocketTimeout
}

func init() {
	bytesKey := func(name string, field func(*ReplicaFetchConfig) *int32) brokerKey {
		return brokerKey{name, func(c *Config, v string) error {
			n, err := parseIntIn(v, 1, math.MaxInt32)
			*field(&c.ReplicaFetch) = int32(n)
			return err
		}, func(c *Config) (string, bool) { return strconv.Itoa(int(*field(&c.ReplicaFetch))), true }}
	}
	msKey := func(name string, field func(*ReplicaFetchConfig) *time.Duration) brokerKey {
		return brokerKey{name, setMs(func(c *Config) *time.Duration { return field(&c.ReplicaFetch) }, 1),
			func(c *Config) (string, bool) { return ms(*field(&c.ReplicaFetch)), true }}
	}
	brokerKeys = append(brokerKeys,
		msKey("replica.fetch.wait.max.ms", func(c *ReplicaFetchConfig) *time.Duration { return &c.Wait }),
		bytesKey("replica.fetch.min.bytes", func(c *ReplicaFetchConfig) *int32 { return &c.MinBytes }),
		bytesKey("replica.fetch.max.bytes", func(c *ReplicaFetchConfig) *int32 { return &c.MaxBytes }),
		bytesKey("replica.fetch.response.max.bytes", func(c *ReplicaFetchConfig) *int32 { return &c.ResponseMaxBytes }),
		msKey("replica.fetch.backoff.ms", func(c *ReplicaFetchConfig) *time.Duration { return &c.Backoff }),
		msKey("replica.socket.timeout.ms", func(c *ReplicaFetchConfig) *time.Duration { return &c.SocketTimeout }),
	)
}

// replicaOf is the broker a Fetch comes from, -1 for a consumer.
func replicaOf(r *kmsg.FetchRequest) int32 {
	if r.Version >= 15 {
		return r.ReplicaState.ID
	}
	return r.ReplicaID
}

// leaderState is the partition's replication state while this broker leads
// it with replication, nil otherwise.
func (p *partition) leaderState() *replica.Leader { return p.leader.Load() }

// replicaMayRead checks a follower's fetch of fp before its read: false
// when fp.header now holds an error or a diverging epoch instead.
func (f *fetch) replicaMayRead(fp *fetchPart) bool {
	leader := fp.p.leaderState()
	var err error
	switch {
	case leader == nil:
		err = errNotLeader
	case fp.currentLeaderEpoch >= 0 && fp.currentLeaderEpoch < leader.LeaderEpoch():
		err = kerr.FencedLeaderEpoch
	case fp.currentLeaderEpoch > leader.LeaderEpoch():
		err = kerr.UnknownLeaderEpoch
	}
	if err != nil {
		fp.header.ErrorCode = errCode(err)
		return false
	}
	if f.req.Version < 12 || fp.lastFetchedEpoch < 0 {
		return true
	}
	log := fp.p.log
	epoch, end := leaderEndForEpoch(log, leader.LeaderEpoch(), fp.lastFetchedEpoch)
	if epoch < 0 || end < 0 {
		// No end for that epoch (newer than the leader's): Kafka's
		// OFFSET_OUT_OF_RANGE, which sends the follower to ListOffsets.
		fp.header.ErrorCode = kerr.OffsetOutOfRange.Code
		return false
	}
	if epoch >= fp.lastFetchedEpoch && end >= fp.offset {
		return true
	}
	hw := leader.HighWatermark()
	fp.header.HighWatermark, fp.header.LastStableOffset, fp.header.LogStartOffset = hw, hw, log.StartOffset()
	fp.header.Diverging, fp.header.DivergingEpoch, fp.header.DivergingEndOffset = true, epoch, end
	return false
}

// leaderEndForEpoch is the leader's (epoch, end offset) for a follower's
// last fetched epoch: segment.Log.EndOffsetForEpoch, except for an epoch
// newer than any the log recorded but not than leaderEpoch. Kafka's leader
// records its epoch at its log end when elected, so it answers such an
// epoch with its latest recorded one (the requested one when it has none)
// and its log end; this log records an epoch with its first batch, so that
// entry is supplied here.
func leaderEndForEpoch(log *segment.Log, leaderEpoch, epoch int32) (int32, int64) {
	found, end := log.EndOffsetForEpoch(epoch)
	if found >= 0 || epoch > leaderEpoch {
		return found, end
	}
	if epochs := log.LeaderEpochs(); len(epochs) > 0 {
		return epochs[len(epochs)-1].Epoch, log.EndOffset()
	}
	return epoch, log.EndOffset()
}

// followerFetched records a follower's fetch of fp after its read and sets
// the header's high watermark and log start offset: false when fp.header
// now holds an error instead.
func (f *fetch) followerFetched(fp *fetchPart) bool {
	leader := fp.p.leaderState()
	if leader == nil {
		fp.header = fetchPartitionHeader{Partition: fp.index, ErrorCode: errNotLeader.Code, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}
		return false
	}
	hw, ok := leader.FollowerFetched(f.replica, fp.offset, time.Now())
	if !ok {
		fp.header = fetchPartitionHeader{Partition: fp.index, ErrorCode: errNotLeader.Code, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}
		return false
	}
	fp.header.HighWatermark, fp.header.LastStableOffset = hw, hw
	return true
}

// leaderThrottled sets fp.throttle to the leader-side replication throttle
// of a follower's fetch of fp (nil: none, or the follower is in the ISR)
// and reports whether it is exhausted: fp is then answered with no
// records.
func (f *fetch) leaderThrottled(fp *fetchPart) bool {
	fp.throttle = nil
	leader := fp.p.leaderState()
	if leader == nil {
		return false
	}
	t := f.b.replicationThrottle(leaderSide, fp.p.topic, fp.index)
	if t == nil || slices.Contains(leader.ISR(), f.replica) {
		return false
	}
	fp.throttle = t
	return !t.Allowed()
}

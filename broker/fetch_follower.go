package broker

// Fetch from the closest replica (KIP-392), as Kafka's ReplicaManager
// serves it:
//
//   - A follower serves a consumer's Fetch of v11 or later for a partition
//     it holds a replica of, whoever leads it and whatever
//     replica.selector.class says (Kafka's fetchOnlyFromLeader is false
//     for consumers from v11): up to its own high watermark, the one its
//     fetcher keeps from the leader's answers, which may lag the leader's.
//     Offsets as Kafka's log read checks them (segment.Log.Read): between
//     that high watermark and the log end, an empty answer; below the log
//     start or past the log end, OFFSET_OUT_OF_RANGE, except that past
//     the log end a fetch without a CurrentLeaderEpoch (-1) gets an empty
//     answer, as Kafka does since KAFKA-14255: such a client cannot tell a
//     follower's out of range from the leader's, and would reset its
//     position. Earlier versions, and replica fetches, still get
//     NOT_LEADER_OR_FOLLOWER from a follower (routing.go).
//   - On the leader, with replica.selector.class set to Kafka's
//     RackAwareReplicaSelector, a consumer's Fetch of v11 or later with a
//     RackID (client.rack) has each partition answered, as Kafka's
//     readFromLog does, with PreferredReadReplica = the replica chosen
//     (replica.Leader.PreferredReadReplica: an ISR follower in the
//     client's rack whose last fetch reached the fetch offset, when the
//     leader is not in that rack), the watermarks and no records; the
//     answer goes out at once. The client then fetches that partition from
//     the chosen replica. Without a selector (Kafka's default) the leader
//     serves every consumer itself.

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"runnel/broker/metadata"
	"runnel/segment"
)

// Kafka's names for replica.selector.class: none (the leader serves every
// consumer) and the rack-aware selector, the only one Kafka ships.
const (
	replicaSelectorNone      = ""
	replicaSelectorRackAware = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
)

// replicaSelectorFetchMinVersion is the first Fetch version with RackID and
// PreferredReadReplica, from which followers serve consumers.
const replicaSelectorFetchMinVersion = 11

func init() {
	brokerKeys = append(brokerKeys, brokerKey{"replica.selector.class", func(c *Config, v string) error {
		switch v = strings.TrimSpace(v); v {
		case replicaSelectorNone, replicaSelectorRackAware:
			c.ReplicaSelector = v
			return nil
		}
		return fmt.Errorf("runnel has Kafka's %s only, or none (the default: the leader serves every consumer)", replicaSelectorRackAware)
	}, func(c *Config) (string, bool) { return c.ReplicaSelector, true }})
}

// readsFromFollower reports whether this fetch may read partition p of the
// image's topic t while another broker (or none) leads it: a consumer's
// fetch of v11 or later, of a partition this broker holds a replica of.
func (f *fetch) readsFromFollower(t *metadata.Topic, p int32) bool {
	if f.replica >= 0 || f.req.Version < replicaSelectorFetchMinVersion {
		return false
	}
	part, ok := t.Partition(p)
	if !ok {
		return false
	}
	for _, r := range part.Replicas {
		if r == f.b.cfg.NodeID {
			return true
		}
	}
	return false
}

// selectsReplica reports whether the broker's replica selector chooses
// where the fetch's partitions are read (a rack-aware selector, and a
// consumer that names its rack in a v11+ request).
func (f *fetch) selectsReplica() bool {
	return f.b.cfg.ReplicaSelector == replicaSelectorRackAware && f.req.Version >= replicaSelectorFetchMinVersion && f.req.Rack != ""
}

// sendsElsewhere answers fp, a consumer's fetch of a partition this broker
// leads, with the replica the selector prefers, when that is another one:
// the header gets it and the watermarks, the read is skipped. False when
// this broker serves fp itself.
func (f *fetch) sendsElsewhere(fp *fetchPart) bool {
	if !f.selectsReplica() {
		return false
	}
	rack := f.req.Rack
	leader := fp.p.leaderState()
	if leader == nil {
		return false
	}
	img := f.b.image()
	rackOf := func(id int32) (string, bool) {
		_, _, rack, ok := f.b.leaderEndpoint(img, id)
		if !ok || rack == nil {
			return "", ok
		}
		return *rack, true
	}
	id := leader.PreferredReadReplica(rack, fp.offset, time.Now(), rackOf)
	if id < 0 {
		return false
	}
	hw := f.b.highWatermark(fp.p)
	fp.header.HighWatermark, fp.header.LastStableOffset, fp.header.LogStartOffset = hw, hw, fp.p.log.StartOffset()
	fp.header.Preferred, fp.header.PreferredReadReplica = true, id
	return true
}

// outOfRangeOnFollower reports whether err, from a consumer's read of fp,
// is an offset past the log end of a partition this broker follows, asked
// without a leader epoch: answered empty rather than OFFSET_OUT_OF_RANGE
// (KAFKA-14255, see above).
func (f *fetch) outOfRangeOnFollower(fp *fetchPart, err error) bool {
	return f.replica < 0 && fp.currentLeaderEpoch < 0 && errors.Is(err, segment.ErrOffsetOutOfRange) &&
		fp.p.replicated.Load() && fp.p.leaderState() == nil && fp.offset > fp.p.log.EndOffset()
}

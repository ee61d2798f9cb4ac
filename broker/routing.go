package broker

// Routing (issue 12): the metadata image says which broker leads each
// partition. Produce, Fetch, ListOffsets, OffsetForLeaderEpoch and
// DeleteRecords for a partition that the image places on another broker, or
// on none (leader -1), answer NOT_LEADER_OR_FOLLOWER, as Kafka's
// ReplicaManager does for a partition it does not lead (a consumer's Fetch
// of v11 or later excepted, which a follower serves: KIP-392,
// fetch_follower.go). Where the version carries it (KIP-951: Produce v10+,
// Fetch v16+) the answer names the current leader and epoch per partition
// and the leaders' endpoints on the listener the request came in on, as Kafka's KafkaApis.getCurrentLeader
// fills them: the leader id and epoch from the metadata, the endpoint only
// for a registered, unfenced broker that has that listener. franz-go moves
// such a partition to the named leader without a metadata refresh when the
// answer has an endpoint and a leader id and epoch of 0 or more; other
// clients refresh their metadata.
//
// A partition that the image does not hold is served from the local topic
// table as before: while the image is empty (one node without a quorum)
// nothing changes, and once the quorum feeds the image the local table
// holds exactly the partitions the image places here.
//
// The check is one image load per request and, per topic, one lookup of
// the topic in the image, then per partition an index into it.

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"runnel/broker/metadata"
)

// leaderHint is a partition's current leader as the image knows it, sent
// with NOT_LEADER_OR_FOLLOWER (leader -1 when it has none).
type leaderHint struct {
	leader, epoch int32
}

// imageTopic returns the topic of img called name, or with id when
// byID: nil when the image does not hold it.
func imageTopic(img *metadata.Image, name string, id [16]byte, byID bool) *metadata.Topic {
	var t *metadata.Topic
	if byID {
		t, _ = img.TopicByID(id)
	} else {
		t, _ = img.Topic(name)
	}
	return t
}

// ledElsewhere reports whether the image places partition p of t (nil: a
// topic the image does not hold) on another broker or on none, and the
// image's leader and leader epoch: the leader to point the client to, or
// for a partition led here the epoch its appends carry (zero when the
// image does not hold it).
func (b *Broker) ledElsewhere(t *metadata.Topic, p int32) (leaderHint, bool) {
	if t == nil {
		return leaderHint{}, false
	}
	part, ok := t.Partition(p)
	if !ok {
		return leaderHint{}, false
	}
	return leaderHint{leader: part.Leader, epoch: part.LeaderEpoch}, part.Leader != b.cfg.NodeID
}

// errNotLeader is the answer for a partition this broker does not lead.
var errNotLeader = kerr.NotLeaderForPartition

// leaderEndpoint is the endpoint of broker id on the client listener, as
// KIP-951's NodeEndpoints carry it; false for a broker that is unknown,
// fenced or without that listener.
func (b *Broker) leaderEndpoint(img *metadata.Image, id int32) (host string, port int32, rack *string, ok bool) {
	br, ok := img.Broker(id)
	if !ok || br.Fenced {
		return "", 0, nil, false
	}
	l, ok := br.Listener(b.clientListener().Name)
	if !ok {
		return "", 0, nil, false
	}
	if br.Rack != "" {
		rack = &br.Rack
	}
	return l.Host, int32(l.Port), rack, true
}

// addLeader adds leader to leaders, the brokers a response's NodeEndpoints
// will describe, unless it is there already or -1 (a handful of leaders
// per response: a linear scan).
func addLeader(leaders []int32, leader int32) []int32 {
	if leader < 0 || slices.Contains(leaders, leader) {
		return leaders
	}
	return append(leaders, leader)
}

// eachEndpoint calls add with the endpoint of each of leaders that is
// registered, unfenced and has the client listener.
func (b *Broker) eachEndpoint(img *metadata.Image, leaders []int32, add func(id int32, host string, port int32, rack *string)) {
	for _, id := range leaders {
		if host, port, rack, ok := b.leaderEndpoint(img, id); ok {
			add(id, host, port, rack)
		}
	}
}

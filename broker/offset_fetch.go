package broker

// OffsetFetch, versions 0-9 (v10 names topics by id and is not served).
//
// Up to v7 one group, from v8 several groups per request. A null topic
// list (v2+) asks for every offset the group has; a partition without a
// committed offset gets -1, as does every partition of an unknown group.
// Offsets become visible only once durable, so RequireStable (v7+) has
// nothing to wait for. The member id and epoch of v9 (KIP-848 groups) are
// not checked: Runnel's groups are classic groups.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.OffsetFetch.Int16(), minVersion: 0, maxVersion: 9, handle: handleOffsetFetch})
}

func handleOffsetFetch(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.OffsetFetchRequest)
	resp := msg.ResponseKind().(*kmsg.OffsetFetchResponse)
	if msg.Version >= 8 {
		for _, g := range msg.Groups {
			resp.Groups = append(resp.Groups, b.groups.FetchOffsets(g))
		}
		r.finish(resp)
		return r
	}
	one := kmsg.OffsetFetchRequestGroup{Group: msg.Group}
	if msg.Topics != nil {
		one.Topics = make([]kmsg.OffsetFetchRequestGroupTopic, len(msg.Topics))
		for i, t := range msg.Topics {
			one.Topics[i] = kmsg.OffsetFetchRequestGroupTopic{Topic: t.Topic, Partitions: t.Partitions}
		}
	}
	g := b.groups.FetchOffsets(one)
	resp.ErrorCode = g.ErrorCode // v2+
	for _, gt := range g.Topics {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = gt.Topic
		for _, gp := range gt.Partitions {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if msg.Version < 2 && g.ErrorCode != 0 {
		// No group-level error before v2: each partition carries it.
		resp.Topics = resp.Topics[:0]
		for _, t := range msg.Topics {
			st := kmsg.NewOffsetFetchResponseTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewOffsetFetchResponseTopicPartition()
				sp.Partition, sp.Offset, sp.ErrorCode = p, -1, g.ErrorCode
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
	}
	r.finish(resp)
	return r
}

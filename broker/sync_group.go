package broker

// SyncGroup, versions 0-5: members fetch their assignment; the leader's
// request carries everyone's. The coordinator answers once the leader's
// assignment is durable in __consumer_offsets (REBALANCE_IN_PROGRESS if a
// new rebalance started meanwhile). v5 checks the protocol type and name
// (INCONSISTENT_GROUP_PROTOCOL).

import "github.com/twmb/franz-go/pkg/kmsg"

func init() {
	registerAPI(apiHandler{key: kmsg.SyncGroup.Int16(), minVersion: 0, maxVersion: 5, handle: handleSyncGroup})
}

func handleSyncGroup(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.SyncGroupRequest)
	if msg.Version < 3 {
		msg.InstanceID = nil
	}
	b.groups.SyncGroup(msg, func(resp *kmsg.SyncGroupResponse) { r.finish(resp) })
	return r
}

package broker

// OffsetDelete, version 0: deletes a group's committed offsets (tombstones
// in __consumer_offsets, answered once durable). GROUP_ID_NOT_FOUND for an
// unknown group; a partition of a topic the group's consumers subscribe
// to is refused with GROUP_SUBSCRIBED_TO_TOPIC; a group with members that
// is not a consumer group is refused as a whole with NON_EMPTY_GROUP.

import "github.com/twmb/franz-go/pkg/kmsg"

func init() {
	registerAPI(apiHandler{key: kmsg.OffsetDelete.Int16(), minVersion: 0, maxVersion: 0, handle: handleOffsetDelete})
}

func handleOffsetDelete(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.OffsetDeleteRequest)
	b.groups.DeleteOffsets(msg, func(resp *kmsg.OffsetDeleteResponse) { r.finish(resp) })
	return r
}

package broker

// DeleteGroups, versions 0-3: deletes groups that have no members, with
// their committed offsets (tombstones in __consumer_offsets, answered once
// durable). GROUP_ID_NOT_FOUND for an unknown group, NON_EMPTY_GROUP for
// one with members.

import "github.com/twmb/franz-go/pkg/kmsg"

func init() {
	registerAPI(apiHandler{key: kmsg.DeleteGroups.Int16(), minVersion: 0, maxVersion: 3, handle: handleDeleteGroups})
}

func handleDeleteGroups(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.DeleteGroupsRequest)
	resp := msg.ResponseKind().(*kmsg.DeleteGroupsResponse)
	b.groups.DeleteGroups(msg.Groups, func(groups []kmsg.DeleteGroupsResponseGroup) {
		resp.Groups = groups
		r.finish(resp)
	})
	return r
}

package broker

// ListGroups, versions 0-5: every group with its protocol type; v4+ with
// its state and an optional filter of states (case-insensitive), v5+ with
// its type ("classic": Runnel has no KIP-848 groups) and a filter of types.

import "github.com/twmb/franz-go/pkg/kmsg"

func init() {
	registerAPI(apiHandler{key: kmsg.ListGroups.Int16(), minVersion: 0, maxVersion: 5, handle: handleListGroups})
}

func handleListGroups(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.ListGroupsRequest)
	resp := msg.ResponseKind().(*kmsg.ListGroupsResponse)
	resp.Groups = b.groups.ListGroups(msg.StatesFilter, msg.TypesFilter)
	r.finish(resp)
	return r
}

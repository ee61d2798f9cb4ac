package broker

// ListGroups, versions 0-5: every group this node coordinates (those of
// the __consumer_offsets partitions it leads) with its protocol type; v4+
// with its state and an optional filter of states (case-insensitive), v5+
// with its type ("classic" or "consumer" for KIP-848 groups) and a filter
// of types. COORDINATOR_LOAD_IN_PROGRESS while a partition's groups load
// (the others are listed), as Kafka answers.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.ListGroups.Int16(), minVersion: 0, maxVersion: 5, handle: handleListGroups})
}

func handleListGroups(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.ListGroupsRequest)
	resp := msg.ResponseKind().(*kmsg.ListGroupsResponse)
	resp.Groups = b.groups.ListGroups(msg.StatesFilter, msg.TypesFilter)
	if b.groups.Loading() {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
	}
	r.finish(resp)
	return r
}

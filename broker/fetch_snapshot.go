package broker

// FetchSnapshot, versions 0-1 (KIP-630), for the controller listener: a
// broker that follows the metadata log fetches the controllers' latest
// snapshot with it when its fetch offset is below their log start
// (controller.FetchSnapshot; NOT_LEADER_OR_FOLLOWER from a controller that
// is not the Raft leader, or on a node that is no voter).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.FetchSnapshot.Int16(), minVersion: 0, maxVersion: 1, handle: handleFetchSnapshot, blocking: true})
}

func handleFetchSnapshot(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.FetchSnapshotRequest)
	if b.quorum == nil {
		resp := msg.ResponseKind().(*kmsg.FetchSnapshotResponse)
		resp.ErrorCode = kerr.NotLeaderForPartition.Code
		r.finish(resp)
		return r
	}
	r.finish(b.quorum.ctrl.FetchSnapshot(msg))
	return r
}

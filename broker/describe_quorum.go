package broker

// DescribeQuorum, versions 0-2 (KIP-595, KIP-836).
//
// On the controller listener, this node's own controller answers
// (controller.DescribeQuorum: NOT_LEADER_OR_FOLLOWER unless it is the Raft
// leader), which is how controllerclient finds the active controller. On
// a client listener, as a Kafka broker: a combined node whose controller is
// the Raft leader answers itself, any other node forwards the request to
// the active controller, so `runnel metadata-quorum describe` works against
// any broker. A single node answers with its own controller.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.DescribeQuorum.Int16(), minVersion: 0, maxVersion: 2, handle: handleDescribeQuorum, blocking: true})
}

func handleDescribeQuorum(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.DescribeQuorumRequest)
	switch fc, forwarding := b.controller().(*forwardingController); {
	case req.conn != nil && req.conn.controller || !forwarding && b.quorum != nil:
		r.finish(b.quorum.ctrl.DescribeQuorum(msg))
	case forwarding:
		ctx, cancel := b.adminContext(0)
		defer cancel()
		r.finish(fc.DescribeQuorum(ctx, msg))
	default:
		resp := msg.ResponseKind().(*kmsg.DescribeQuorumResponse)
		resp.ErrorCode = kerr.NotController.Code
		r.finish(resp)
	}
	return r
}

package broker

// BrokerHeartbeat, versions 0-2.
//
// A controller API (KIP-631), for the brokers of the cluster: a controller
// quorum voter answers it with its own controller (controller.
// BrokerHeartbeat: the session renewed, the broker unfenced once caught up,
// fenced when it asks), NOT_CONTROLLER when that controller is not the
// active one or the node is no voter. Brokers send it on the controller
// listener (cluster_listener.go).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.BrokerHeartbeat.Int16(), minVersion: 0, maxVersion: 2, handle: handleBrokerHeartbeat, blocking: true})
}

func handleBrokerHeartbeat(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.BrokerHeartbeatRequest)
	if b.quorum == nil {
		resp := msg.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
		resp.ErrorCode, resp.IsFenced = kerr.NotController.Code, true
		r.finish(resp)
		return r
	}
	ctx, cancel := b.adminContext(0)
	defer cancel()
	r.finish(b.quorum.ctrl.BrokerHeartbeat(ctx, msg))
	return r
}

package broker

// AllocateProducerIDs, version 0 (Kafka's AllocateProducerIds, KIP-730; kmsg
// knows no later version).
//
// A controller API: a broker asks it for the next block of producer ids it
// hands out (init_producer_id.go) with b.controller().AllocateProducerIDs,
// which reaches the active controller (forwardingController) and answers as
// controller.AllocateProducerIDs does. On the controller listener
// (cluster_listener.go) a controller quorum voter answers it with its own
// controller, NOT_CONTROLLER when that controller is not the active one or
// the node is no voter.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.AllocateProducerIDs.Int16(), minVersion: 0, maxVersion: 0, handle: handleAllocateProducerIDs, blocking: true})
}

func handleAllocateProducerIDs(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.AllocateProducerIDsRequest)
	if b.quorum == nil {
		r.finish(failAllocateProducerIDs(msg, kerr.NotController.Code))
		return r
	}
	ctx, cancel := b.adminContext(0)
	defer cancel()
	r.finish(b.quorum.ctrl.AllocateProducerIDs(ctx, msg))
	return r
}

// failAllocateProducerIDs answers req with code and no block.
func failAllocateProducerIDs(req *kmsg.AllocateProducerIDsRequest, code int16) *kmsg.AllocateProducerIDsResponse {
	resp := req.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	resp.ErrorCode, resp.ProducerIDStart = code, -1
	return resp
}

package broker

// BrokerRegistration, versions 0-4.
//
// A controller API (KIP-631), for the brokers of the cluster: a controller
// quorum voter answers it with its own controller (controller.
// RegisterBroker: a new broker epoch, the broker fenced until it has caught
// up), NOT_CONTROLLER when that controller is not the active one or the
// node is no voter. Brokers send it on the controller listener
// (cluster_listener.go).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.BrokerRegistration.Int16(), minVersion: 0, maxVersion: 4, handle: handleBrokerRegistration, blocking: true})
}

func handleBrokerRegistration(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.BrokerRegistrationRequest)
	if b.quorum == nil {
		resp := msg.ResponseKind().(*kmsg.BrokerRegistrationResponse)
		resp.ErrorCode, resp.BrokerEpoch = kerr.NotController.Code, -1
		r.finish(resp)
		return r
	}
	ctx, cancel := b.adminContext(0)
	defer cancel()
	r.finish(b.quorum.ctrl.RegisterBroker(ctx, msg))
	return r
}

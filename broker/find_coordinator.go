package broker

// FindCoordinator, versions 0-6.
//
// This node coordinates every consumer group (key type 0), so the answer
// is always this node at its advertised address; v4+ answers each key of
// the batch. Runnel has no transaction coordinator: key type 1 gets
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED (as InitProducerId refuses a
// transactional id), and other types (share groups, v6) INVALID_REQUEST.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.FindCoordinator.Int16(), minVersion: 0, maxVersion: 6, handle: handleFindCoordinator})
}

func handleFindCoordinator(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.FindCoordinatorRequest)
	resp := msg.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := b.advertised()
	find := func(key string) kmsg.FindCoordinatorResponseCoordinator {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		switch msg.CoordinatorType {
		case 0:
			c.NodeID, c.Host, c.Port = b.cfg.NodeID, host, port
			return c
		case 1:
			// Fatal to clients, as InitProducerId's refusal of a
			// transactional id: a retriable error would hang them.
			c.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			c.ErrorMessage = kmsg.StringPtr("Runnel does not support transactions")
		default:
			c.ErrorCode = kerr.InvalidRequest.Code
			c.ErrorMessage = kmsg.StringPtr("only group coordinators (key type 0) are served")
		}
		c.NodeID, c.Port = -1, -1
		return c
	}
	if msg.Version >= 4 {
		for _, key := range msg.CoordinatorKeys {
			resp.Coordinators = append(resp.Coordinators, find(key))
		}
		r.finish(resp)
		return r
	}
	c := find(msg.CoordinatorKey)
	resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
	resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
	r.finish(resp)
	return r
}

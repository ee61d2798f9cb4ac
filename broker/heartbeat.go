package broker

// Heartbeat, versions 0-4: keeps a member's session alive.
// REBALANCE_IN_PROGRESS tells it to join again; UNKNOWN_MEMBER_ID,
// ILLEGAL_GENERATION and FENCED_INSTANCE_ID (v3+, static members) that it
// is no longer part of the generation.

import "github.com/twmb/franz-go/pkg/kmsg"

func init() {
	registerAPI(apiHandler{key: kmsg.Heartbeat.Int16(), minVersion: 0, maxVersion: 4, handle: handleHeartbeat})
}

func handleHeartbeat(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.HeartbeatRequest)
	resp := msg.ResponseKind().(*kmsg.HeartbeatResponse)
	if err := b.groups.Heartbeat(msg); err != nil {
		resp.ErrorCode = err.Code
	}
	r.finish(resp)
	return r
}

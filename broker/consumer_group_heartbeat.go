package broker

// ConsumerGroupHeartbeat, versions 0-1: KIP-848 consumer groups, with
// server-side assignment ("uniform" or "range") by the group coordinator
// (broker/group/consumer.go). v1 members choose their own member id; v0
// members get one on joining. A regular-expression subscription (v1) is
// resolved by the coordinator against every topic, internal ones included,
// and again when topics are created or deleted; an expression that does not
// compile is INVALID_REGULAR_EXPRESSION. Kafka's expressions are RE2/J and
// Runnel's Go's regexp (RE2). Members are kept in memory only: after a
// restart they join again; committed offsets persist.

import "github.com/twmb/franz-go/pkg/kmsg"

func init() {
	registerAPI(apiHandler{key: kmsg.ConsumerGroupHeartbeat.Int16(), minVersion: 0, maxVersion: 1, handle: handleConsumerGroupHeartbeat})
}

func handleConsumerGroupHeartbeat(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.ConsumerGroupHeartbeatRequest)
	r.finish(b.groups.ConsumerGroupHeartbeat(msg, req.clientIDString(), clientHost(req)))
	return r
}

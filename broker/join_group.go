package broker

// JoinGroup, versions 0-9: the group coordinator (package group) runs the
// classic rebalance protocol. From v4 a member joining without an id gets
// one with MEMBER_ID_REQUIRED and must join again with it (KIP-394); v5+
// carries group.instance.id for static membership (KIP-345); a static
// leader rejoining a stable group gets SkipAssignment (v9, KIP-814). The
// reply waits until the rebalance's join phase ends, answered by the
// coordinator from another goroutine; Close answers waiting joins with
// NOT_COORDINATOR. Protocol metadata passes through unchanged.

import (
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.JoinGroup.Int16(), minVersion: 0, maxVersion: 9, handle: handleJoinGroup})
}

func handleJoinGroup(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.JoinGroupRequest)
	b.groups.JoinGroup(msg, req.clientIDString(), clientHost(req), func(resp *kmsg.JoinGroupResponse) { r.finish(resp) })
	return r
}

// clientHost is the client's address as Kafka shows it in DescribeGroups:
// "/" and the IP address.
func clientHost(req *request) string {
	addr := req.conn.t.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	return "/" + addr
}

package broker

// FindCoordinator, versions 0-6.
//
// A consumer group (key type 0) is coordinated by the leader of its
// partition of __consumer_offsets (group.PartitionFor) in the metadata
// image, named with its endpoint on the client listener (this node: its
// advertised address); a partition without a leader, or a leader fenced or
// without that listener, is COORDINATOR_NOT_AVAILABLE, and clients ask
// again. While the image does not hold __consumer_offsets, a cluster of
// several nodes creates it now, as Kafka does, and answers
// COORDINATOR_NOT_AVAILABLE until it exists (offsetsTopicLazy: created at
// startup, it would all land on the first broker to start); a one node
// cluster (which creates it at startup) coordinates every group here. v4+ answers each key of the
// batch. Runnel has no transaction coordinator: key type 1 gets
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED (as InitProducerId refuses a
// transactional id), and other types (share groups, v6) INVALID_REQUEST.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/group"
)

func init() {
	registerAPI(apiHandler{key: kmsg.FindCoordinator.Int16(), minVersion: 0, maxVersion: 6, handle: handleFindCoordinator})
}

func handleFindCoordinator(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.FindCoordinatorRequest)
	resp := msg.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := b.advertised()
	img := b.image()
	offsets, _ := img.Topic(offsetsTopic)
	lazy := offsets == nil && msg.CoordinatorType == 0 && b.offsetsTopicLazy()
	if lazy {
		b.requestOffsetsTopic() // cluster_groups.go
	}
	find := func(key string) kmsg.FindCoordinatorResponseCoordinator {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		switch msg.CoordinatorType {
		case 0:
			leader := b.cfg.NodeID
			if lazy {
				leader = -1 // being created
			} else if offsets != nil {
				leader = -1 // none until the topic has its partitions
				if n := offsets.NumPartitions(); n > 0 {
					p, _ := offsets.Partition(group.PartitionFor(key, n))
					leader = p.Leader
				}
			}
			if leader == b.cfg.NodeID {
				c.NodeID, c.Host, c.Port = leader, host, port
				return c
			}
			if h, p, _, ok := b.leaderEndpoint(img, leader); ok {
				c.NodeID, c.Host, c.Port = leader, h, p
				return c
			}
			c.ErrorCode = kerr.CoordinatorNotAvailable.Code
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

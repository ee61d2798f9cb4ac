package broker

// The cluster (issue 12): every broker serves from the metadata image the
// controller quorum's committed log builds (package metadata).
//
// How an image reaches the broker: the committed log is applied to images by
// a controller quorum member (this node's own voter, cluster_quorum.go, whose
// controller.Config.Applied hands each image over) or, on a broker-only node,
// by a metadata-log follower; either calls ImageCommitted. One goroutine
// (cluster_follow.go) applies the newest image to the local state: it creates
// the logs of the partitions whose replicas hold this node, deletes those of
// removed topics, applies config changes, keeps the topic table in step,
// publishes the image in b.meta (what the handlers read) with its metadata
// offset, then calls groupsFollow.
//
// Where changes go: the admin handlers (CreateTopics, DeleteTopics,
// CreatePartitions, AlterConfigs, IncrementalAlterConfigs, ElectLeaders),
// auto-creation, __consumer_offsets, the broker's registration and
// heartbeats, its partition leaders' ISR changes (AlterPartition) and its
// requests for producer id blocks (AllocateProducerIDs) go to the active
// controller through one ClusterController; a handler answers
// once this broker has applied the change (awaitController).

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
)

// ClusterController is the active controller as this broker reaches it: a
// single node's own voter (*controller.Controller) or, on a node of
// several, its own voter while active, else the active one over the
// controller listener (forwardingController). Each
// call answers as Kafka's controller does (NOT_CONTROLLER when it cannot
// reach the active one). CommittedOffset is the metadata offset of the last
// entry the controller has applied: every answer it gave before the call is
// at or below it, so a broker that has applied it sees their effects.
type ClusterController interface {
	CreateTopics(context.Context, *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse
	DeleteTopics(context.Context, *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse
	CreatePartitions(context.Context, *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse
	AlterConfigs(context.Context, *kmsg.AlterConfigsRequest) *kmsg.AlterConfigsResponse
	IncrementalAlterConfigs(context.Context, *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse
	RegisterBroker(context.Context, *kmsg.BrokerRegistrationRequest) *kmsg.BrokerRegistrationResponse
	BrokerHeartbeat(context.Context, *kmsg.BrokerHeartbeatRequest) *kmsg.BrokerHeartbeatResponse
	// AlterPartition is a partition leader's ISR change (KIP-497;
	// controller.AlterPartition says what it checks and answers).
	AlterPartition(context.Context, *kmsg.AlterPartitionRequest) *kmsg.AlterPartitionResponse
	ElectLeaders(context.Context, *kmsg.ElectLeadersRequest) *kmsg.ElectLeadersResponse
	// AllocateProducerIDs gives a broker its next block of producer ids
	// (KIP-730; controller.AllocateProducerIDs).
	AllocateProducerIDs(context.Context, *kmsg.AllocateProducerIDsRequest) *kmsg.AllocateProducerIDsResponse
	CommittedOffset(context.Context) (int64, error)
	AlterPartitionReassignments(context.Context, *kmsg.AlterPartitionAssignmentsRequest) *kmsg.AlterPartitionAssignmentsResponse
	ListPartitionReassignments(context.Context, *kmsg.ListPartitionReassignmentsRequest) *kmsg.ListPartitionReassignmentsResponse
}

// SetController makes c the controller this broker's cluster changes go to:
// a single node's own voter, a node of several's forwardingController
// (cluster_forward.go).
func (b *Broker) SetController(c ClusterController) { b.ctrl.Store(&c) }

// controller is where cluster changes go.
func (b *Broker) controller() ClusterController { return *b.ctrl.Load() }

// controllerFor is where a request's cluster changes go: this node's own
// controller for a request that came in on the controller listener (a
// broker forwarding to the voter it takes for the active controller, which
// answers NOT_CONTROLLER when it is not), else controller().
func (b *Broker) controllerFor(req *request) ClusterController {
	if req.conn != nil && req.conn.controller && b.quorum != nil {
		return b.quorum.ctrl
	}
	return b.controller()
}

// image is the cluster's metadata as this broker has applied it: brokers,
// topics, partitions with their replicas and leaders, and configs. It is
// the empty image until the broker has applied the first record.
func (b *Broker) image() *metadata.Image { return b.meta.Load() }

// defaultAdminTimeout bounds an admin request that gives no timeout of its
// own.
const defaultAdminTimeout = 30 * time.Second

// adminContext is the context of a request forwarded to the controller:
// its timeout (timeoutMs <= 0: defaultAdminTimeout), ended by Close too.
func (b *Broker) adminContext(timeoutMs int32) (context.Context, context.CancelFunc) {
	d := defaultAdminTimeout
	if timeoutMs > 0 {
		d = time.Duration(timeoutMs) * time.Millisecond
	}
	return context.WithTimeout(b.lifetime, d)
}

// awaitController waits until this broker has applied everything the
// controller committed before the call: what a handler does between the
// controller's answer and its own, so that a client sees its change on the
// broker that answered.
func (b *Broker) awaitController(ctx context.Context, ctrl ClusterController) error {
	offset, err := ctrl.CommittedOffset(ctx)
	if err != nil {
		return err
	}
	return b.awaitApplied(ctx, offset)
}

// awaitApplied waits until the image this broker serves is at metadata
// offset or beyond.
func (b *Broker) awaitApplied(ctx context.Context, offset int64) error {
	for {
		ch, applied := b.follower.appliedSince()
		if applied >= offset {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("broker: waiting for metadata offset %d (applied %d): %w", offset, applied, ctx.Err())
		case <-b.done:
			return ErrClosed
		}
	}
}

// Image is the metadata image this broker serves from (its Hash is equal
// on brokers that have applied the same log).
func (b *Broker) Image() *metadata.Image { return b.image() }

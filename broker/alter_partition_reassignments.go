package broker

// AlterPartitionAssignments, versions 0-1 (KIP-455, KIP-860): Kafka's
// AlterPartitionReassignments, as kmsg names it.
//
// Moves partitions to new replicas, or cancels a move (null replicas),
// through the active controller (cluster.go; controller/reassign.go holds
// the rules): the new replicas create the partition's log and catch up,
// and once every one is in the ISR the controller drops the replicas left
// out. Errors are per partition: INVALID_REPLICA_ASSIGNMENT for an empty
// list, a broker twice, an unregistered broker or a fenced one added;
// INVALID_REPLICATION_FACTOR for a new length when
// AllowReplicationFactorChange is false (v1); UNKNOWN_TOPIC_OR_PARTITION;
// NO_REASSIGNMENT_IN_PROGRESS for cancelling what is not moving. The
// answer comes once this broker has applied the change.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.AlterPartitionAssignments.Int16(), minVersion: 0, maxVersion: 1, handle: handleAlterPartitionReassignments, blocking: true})
}

func handleAlterPartitionReassignments(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := msg.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = msg.AllowReplicationFactorChange
	at := make([]int, len(msg.Topics)) // every topic goes to the controller
	resp.Topics = make([]kmsg.AlterPartitionAssignmentsResponseTopic, len(msg.Topics))
	for i, rt := range msg.Topics {
		at[i] = i
		resp.Topics[i] = kmsg.NewAlterPartitionAssignmentsResponseTopic()
		resp.Topics[i].Topic = rt.Topic
	}
	ctx, cancel := b.adminContext(msg.TimeoutMillis)
	defer cancel()
	ctrl := b.controllerFor(req)
	forwardItems(ctx, b, ctrl, false, at,
		func() []kmsg.AlterPartitionAssignmentsResponseTopic {
			return ctrl.AlterPartitionReassignments(ctx, msg).Topics
		},
		// A topic's errors are its partitions': code is an error only when
		// the controller gave no answer or this broker did not apply it in
		// time, which its partitions that succeeded report.
		func(*kmsg.AlterPartitionAssignmentsResponseTopic) (int16, *string) { return 0, nil },
		func(i int, a *kmsg.AlterPartitionAssignmentsResponseTopic, code int16, message *string) {
			for k, rp := range msg.Topics[i].Partitions {
				sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
				sp.Partition, sp.ErrorCode, sp.ErrorMessage = rp.Partition, code, message
				if a != nil && k < len(a.Partitions) && a.Partitions[k].ErrorCode != 0 {
					sp.ErrorCode, sp.ErrorMessage = a.Partitions[k].ErrorCode, a.Partitions[k].ErrorMessage
				}
				resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, sp)
			}
		})
	r.finish(resp)
	return r
}

package broker

// ListPartitionReassignments, version 0 (KIP-455).
//
// Lists the reassignments under way, of every partition (null Topics) or of
// the ones named (unknown ones are left out), with their replicas, adding
// and removing replicas, as the active controller answers it (cluster.go;
// controller/reassign.go): NOT_CONTROLLER when it cannot be reached.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.ListPartitionReassignments.Int16(), minVersion: 0, maxVersion: 0, handle: handleListPartitionReassignments, blocking: true})
}

func handleListPartitionReassignments(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.ListPartitionReassignmentsRequest)
	ctx, cancel := b.adminContext(msg.TimeoutMillis)
	defer cancel()
	r.finish(b.controllerFor(req).ListPartitionReassignments(ctx, msg))
	return r
}

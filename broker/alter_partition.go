package broker

// AlterPartition, versions 0-3.
//
// A controller API (KIP-497), for the partition leaders of the cluster: a
// leader sends its ISR changes with b.controller().AlterPartition, which
// reaches the active controller (forwardingController) and answers as
// controller.AlterPartition does. On the controller listener
// (cluster_listener.go) a controller quorum voter answers it with its own
// controller, NOT_CONTROLLER for every partition when that controller is
// not the active one or the node is no voter.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.AlterPartition.Int16(), minVersion: 0, maxVersion: 3, handle: handleAlterPartition, blocking: true})
}

func handleAlterPartition(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.AlterPartitionRequest)
	if b.quorum == nil {
		r.finish(failAlterPartition(msg, kerr.NotController.Code))
		return r
	}
	ctx, cancel := b.adminContext(0)
	defer cancel()
	r.finish(b.quorum.ctrl.AlterPartition(ctx, msg))
	return r
}

// failAlterPartition answers every partition of req with code.
func failAlterPartition(req *kmsg.AlterPartitionRequest, code int16) *kmsg.AlterPartitionResponse {
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionResponseTopic()
		st.Topic, st.TopidID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

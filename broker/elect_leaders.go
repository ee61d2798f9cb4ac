package broker

// ElectLeaders, versions 0-2.
//
// Runs leader elections (KIP-183, KIP-460) through the active controller
// (cluster.go), which answers as controller.ElectLeaders does: PREFERRED
// (v0's only kind) or UNCLEAN per partition, ELECTION_NOT_NEEDED,
// PREFERRED_LEADER_NOT_AVAILABLE, ELIGIBLE_LEADERS_NOT_AVAILABLE or
// UNKNOWN_TOPIC_OR_PARTITION; null topics is every partition (those whose
// election was not needed left out). The answer comes once this broker has
// applied the elections (REQUEST_TIMED_OUT for those it has not in time),
// so the client sees the new leaders in its Metadata. Served on the
// controller listener too, where brokers forward it.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.ElectLeaders.Int16(), minVersion: 0, maxVersion: 2, handle: handleElectLeaders, blocking: true})
}

func handleElectLeaders(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.ElectLeadersRequest)
	ctx, cancel := b.adminContext(msg.TimeoutMillis)
	defer cancel()
	ctrl := b.controllerFor(req)
	resp := ctrl.ElectLeaders(ctx, msg)
	elected := false
	for _, st := range resp.Topics {
		for _, sp := range st.Partitions {
			elected = elected || sp.ErrorCode == 0
		}
	}
	if elected {
		if err := b.awaitController(ctx, ctrl); err != nil {
			for i := range resp.Topics {
				for k := range resp.Topics[i].Partitions {
					if sp := &resp.Topics[i].Partitions[k]; sp.ErrorCode == 0 {
						sp.ErrorCode, sp.ErrorMessage = kerr.RequestTimedOut.Code, kmsg.StringPtr(err.Error())
					}
				}
			}
		}
	}
	r.finish(resp)
	return r
}

// failElectLeaders answers every partition of req with code (and, from
// v1, the request): the answer when no controller could be asked.
func failElectLeaders(req *kmsg.ElectLeadersRequest, code int16) *kmsg.ElectLeadersResponse {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	resp.ErrorCode = code
	for _, rt := range req.Topics {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition, sp.ErrorCode = p, code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

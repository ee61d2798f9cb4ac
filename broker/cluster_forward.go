package broker

// The ClusterController of a node of several: this node's own controller
// while it is the active one, else the active controller reached over the
// controller listener (controllerclient.Client), as a Kafka broker forwards
// admin requests to the active controller (KIP-590).

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/controller"
	"runnel/broker/controllerclient"
	"runnel/broker/metadata"
)

// forwardingController sends each request to local when it is the active
// controller, else through remote.
type forwardingController struct {
	local  *controller.Controller // nil on a broker-only node
	remote *controllerclient.Client
	image  func() *metadata.Image // the broker's, for the topic ids of AlterPartition
}

// activeLocal is the local controller when it is the active one.
func (f *forwardingController) activeLocal() *controller.Controller {
	if f.local != nil && f.local.Active() {
		return f.local
	}
	return nil
}

// route sends req to the local controller (local, a method of
// controller.Controller) while it is the active one, else forwards it.
func route[Resp kmsg.Response, Req kmsg.Request](ctx context.Context, f *forwardingController, req Req, local func(*controller.Controller, context.Context, Req) Resp, fail func(code int16) Resp) Resp {
	if c := f.activeLocal(); c != nil {
		return local(c, ctx, req)
	}
	return forward(ctx, f.remote, req, fail)
}

// forward sends req to the active controller and returns its answer, or
// fail's (req's answer with the error code) when none answered before ctx
// ended. req keeps its version (the client sends the highest both ends
// support; the connection encodes the answer in the version its client
// asked for).
func forward[Resp kmsg.Response, Req kmsg.Request](ctx context.Context, remote *controllerclient.Client, req Req, fail func(code int16) Resp) Resp {
	version := req.GetVersion()
	defer req.SetVersion(version)
	resp, err := remote.Request(ctx, req)
	if err != nil {
		return fail(kerr.RequestTimedOut.Code)
	}
	out, ok := resp.(Resp)
	if !ok {
		return fail(kerr.UnknownServerError.Code)
	}
	return out
}

// failEach is forward's fail for a request of items: req's response, to
// which add appends the answer to each item with the error code.
func failEach[Resp kmsg.Response, Item any](req kmsg.Request, items []Item, add func(resp Resp, item Item, code int16)) func(code int16) Resp {
	return func(code int16) Resp {
		resp := req.ResponseKind().(Resp)
		for _, it := range items {
			add(resp, it, code)
		}
		return resp
	}
}

func (f *forwardingController) CreateTopics(ctx context.Context, req *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	return route(ctx, f, req, (*controller.Controller).CreateTopics, failEach(req, req.Topics, func(resp *kmsg.CreateTopicsResponse, rt kmsg.CreateTopicsRequestTopic, code int16) {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic, st.ErrorCode, st.NumPartitions, st.ReplicationFactor = rt.Topic, code, -1, -1
		resp.Topics = append(resp.Topics, st)
	}))
}

func (f *forwardingController) DeleteTopics(ctx context.Context, req *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse {
	var topics []kmsg.DeleteTopicsRequestTopic // v0-v5 name the topics in TopicNames, v6 in Topics
	for _, name := range req.TopicNames {
		topics = append(topics, kmsg.DeleteTopicsRequestTopic{Topic: kmsg.StringPtr(name)})
	}
	topics = append(topics, req.Topics...)
	return route(ctx, f, req, (*controller.Controller).DeleteTopics, failEach(req, topics, func(resp *kmsg.DeleteTopicsResponse, rt kmsg.DeleteTopicsRequestTopic, code int16) {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID, st.ErrorCode = rt.Topic, rt.TopicID, code
		resp.Topics = append(resp.Topics, st)
	}))
}

func (f *forwardingController) CreatePartitions(ctx context.Context, req *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse {
	return route(ctx, f, req, (*controller.Controller).CreatePartitions, failEach(req, req.Topics, func(resp *kmsg.CreatePartitionsResponse, rt kmsg.CreatePartitionsRequestTopic, code int16) {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic, st.ErrorCode = rt.Topic, code
		resp.Topics = append(resp.Topics, st)
	}))
}

func (f *forwardingController) AlterConfigs(ctx context.Context, req *kmsg.AlterConfigsRequest) *kmsg.AlterConfigsResponse {
	return route(ctx, f, req, (*controller.Controller).AlterConfigs, failEach(req, req.Resources, func(resp *kmsg.AlterConfigsResponse, rr kmsg.AlterConfigsRequestResource, code int16) {
		st := kmsg.NewAlterConfigsResponseResource()
		st.ResourceType, st.ResourceName, st.ErrorCode = rr.ResourceType, rr.ResourceName, code
		resp.Resources = append(resp.Resources, st)
	}))
}

func (f *forwardingController) IncrementalAlterConfigs(ctx context.Context, req *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse {
	return route(ctx, f, req, (*controller.Controller).IncrementalAlterConfigs, failEach(req, req.Resources, func(resp *kmsg.IncrementalAlterConfigsResponse, rr kmsg.IncrementalAlterConfigsRequestResource, code int16) {
		st := kmsg.NewIncrementalAlterConfigsResponseResource()
		st.ResourceType, st.ResourceName, st.ErrorCode = rr.ResourceType, rr.ResourceName, code
		resp.Resources = append(resp.Resources, st)
	}))
}

func (f *forwardingController) AlterPartitionReassignments(ctx context.Context, req *kmsg.AlterPartitionAssignmentsRequest) *kmsg.AlterPartitionAssignmentsResponse {
	return route(ctx, f, req, (*controller.Controller).AlterPartitionReassignments, failEach(req, req.Topics, func(resp *kmsg.AlterPartitionAssignmentsResponse, rt kmsg.AlterPartitionAssignmentsRequestTopic, code int16) {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}))
}

func (f *forwardingController) ListPartitionReassignments(ctx context.Context, req *kmsg.ListPartitionReassignmentsRequest) *kmsg.ListPartitionReassignmentsResponse {
	return route(ctx, f, req, (*controller.Controller).ListPartitionReassignments, func(code int16) *kmsg.ListPartitionReassignmentsResponse {
		resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
		resp.ErrorCode = code
		return resp
	})
}

func (f *forwardingController) RegisterBroker(ctx context.Context, req *kmsg.BrokerRegistrationRequest) *kmsg.BrokerRegistrationResponse {
	if c := f.activeLocal(); c != nil {
		return c.RegisterBroker(ctx, req)
	}
	return f.remote.RegisterBroker(ctx, req)
}

func (f *forwardingController) BrokerHeartbeat(ctx context.Context, req *kmsg.BrokerHeartbeatRequest) *kmsg.BrokerHeartbeatResponse {
	if c := f.activeLocal(); c != nil {
		return c.BrokerHeartbeat(ctx, req)
	}
	return f.remote.BrokerHeartbeat(ctx, req)
}

// AlterPartition goes to the active controller in the newest version both
// ends know, whatever the caller's: a request of an older version is
// written in the newest form first (topic ids from this broker's image,
// the ISR with broker epochs -1, unchecked), and the answer is given back
// in the caller's terms (topic names; UNKNOWN_TOPIC_OR_PARTITION for an
// unknown topic and OPERATION_NOT_ATTEMPTED for an ineligible replica
// before v2).
func (f *forwardingController) AlterPartition(ctx context.Context, req *kmsg.AlterPartitionRequest) *kmsg.AlterPartitionResponse {
	if c := f.activeLocal(); c != nil {
		return c.AlterPartition(ctx, req)
	}
	resp := forward(ctx, f.remote, newestAlterPartition(req, f.image()), func(code int16) *kmsg.AlterPartitionResponse {
		return failAlterPartition(req, code)
	})
	for i := range resp.Topics {
		if i < len(req.Topics) {
			resp.Topics[i].Topic, resp.Topics[i].TopidID = req.Topics[i].Topic, req.Topics[i].TopicID
		}
		for k := range resp.Topics[i].Partitions {
			sp := &resp.Topics[i].Partitions[k]
			switch {
			case req.Version >= 2:
			case sp.ErrorCode == kerr.UnknownTopicID.Code:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case sp.ErrorCode == kerr.IneligibleReplica.Code:
				sp.ErrorCode = kerr.OperationNotAttempted.Code
			}
		}
	}
	return resp
}

// newestAlterPartition is req with the fields of every version filled:
// topic ids (from img, for topics named by name) and NewEpochISR (from
// NewISR, epochs -1).
func newestAlterPartition(req *kmsg.AlterPartitionRequest, img *metadata.Image) *kmsg.AlterPartitionRequest {
	out := *req
	out.Version = out.MaxVersion()
	out.Topics = slices.Clone(req.Topics)
	for i := range out.Topics {
		rt := &out.Topics[i]
		if req.Version < 2 {
			rt.TopicID = [16]byte{} // unknown: UNKNOWN_TOPIC_ID
			if t, ok := img.Topic(rt.Topic); ok {
				rt.TopicID = t.ID()
			}
		}
		if req.Version >= 3 {
			continue
		}
		rt.Partitions = slices.Clone(rt.Partitions)
		for k := range rt.Partitions {
			rp := &rt.Partitions[k]
			rp.NewEpochISR = nil
			for _, id := range rp.NewISR {
				m := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
				m.BrokerID = id
				rp.NewEpochISR = append(rp.NewEpochISR, m)
			}
		}
	}
	return &out
}

func (f *forwardingController) ElectLeaders(ctx context.Context, req *kmsg.ElectLeadersRequest) *kmsg.ElectLeadersResponse {
	return route(ctx, f, req, (*controller.Controller).ElectLeaders, func(code int16) *kmsg.ElectLeadersResponse {
		return failElectLeaders(req, code)
	})
}

func (f *forwardingController) AllocateProducerIDs(ctx context.Context, req *kmsg.AllocateProducerIDsRequest) *kmsg.AllocateProducerIDsResponse {
	return route(ctx, f, req, (*controller.Controller).AllocateProducerIDs, func(code int16) *kmsg.AllocateProducerIDsResponse {
		return failAllocateProducerIDs(req, code)
	})
}

// DescribeQuorum is answered by the local controller when it is the Raft
// leader, else by the active controller (as Kafka brokers forward it).
func (f *forwardingController) DescribeQuorum(ctx context.Context, req *kmsg.DescribeQuorumRequest) *kmsg.DescribeQuorumResponse {
	if f.local != nil && f.local.Leader() == f.local.Node().Status().ID {
		return f.local.DescribeQuorum(req)
	}
	return forward(ctx, f.remote, req, func(code int16) *kmsg.DescribeQuorumResponse {
		resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
		resp.ErrorCode = code
		return resp
	})
}

// CommittedOffset is the local controller's when it is active, else the
// active controller's high watermark - 1: the offset of its last committed
// entry (entry offset = Raft index - 1, the high watermark the commit
// index), at or above every change it answered before.
func (f *forwardingController) CommittedOffset(ctx context.Context) (int64, error) {
	if c := f.activeLocal(); c != nil {
		return c.CommittedOffset(ctx)
	}
	hw, err := f.remote.CommittedOffset(ctx)
	if err != nil {
		return -1, err
	}
	return hw - 1, nil
}

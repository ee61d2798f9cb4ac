package broker

// The ClusterController of a node of several: this node's own controller
// while it is the active one, else the active controller reached over the
// controller listener (controllerclient.Client), as a Kafka broker forwards
// admin requests to the active controller (KIP-590).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/controller"
	"runnel/broker/controllerclient"
)

// forwardingController sends each request to local when it is the active
// controller, else through remote.
type forwardingController struct {
	local  *controller.Controller // nil on a broker-only node
	remote *controllerclient.Client
}

// activeLocal is the local controller when it is the active one.
func (f *forwardingController) activeLocal() *controller.Controller {
	if f.local != nil && f.local.Active() {
		return f.local
	}
	return nil
}

// forward sends req to the active controller and returns its answer, or
// fail's when none answered before ctx ended. req keeps its version (the
// client sends the highest both ends support; the connection encodes the
// answer in the version its client asked for).
func forward[Resp kmsg.Response, Req kmsg.Request](ctx context.Context, remote *controllerclient.Client, req Req, fail func(Req, int16) Resp) Resp {
	version := req.GetVersion()
	defer req.SetVersion(version)
	resp, err := remote.Request(ctx, req)
	if err != nil {
		return fail(req, kerr.RequestTimedOut.Code)
	}
	out, ok := resp.(Resp)
	if !ok {
		return fail(req, kerr.UnknownServerError.Code)
	}
	return out
}

func (f *forwardingController) CreateTopics(ctx context.Context, req *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	if c := f.activeLocal(); c != nil {
		return c.CreateTopics(ctx, req)
	}
	return forward(ctx, f.remote, req, func(req *kmsg.CreateTopicsRequest, code int16) *kmsg.CreateTopicsResponse {
		resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic, st.ErrorCode, st.NumPartitions, st.ReplicationFactor = rt.Topic, code, -1, -1
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	})
}

func (f *forwardingController) DeleteTopics(ctx context.Context, req *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse {
	if c := f.activeLocal(); c != nil {
		return c.DeleteTopics(ctx, req)
	}
	return forward(ctx, f.remote, req, func(req *kmsg.DeleteTopicsRequest, code int16) *kmsg.DeleteTopicsResponse {
		resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
		add := func(name *string, id [16]byte) {
			st := kmsg.NewDeleteTopicsResponseTopic()
			st.Topic, st.TopicID, st.ErrorCode = name, id, code
			resp.Topics = append(resp.Topics, st)
		}
		for _, name := range req.TopicNames {
			add(kmsg.StringPtr(name), [16]byte{})
		}
		for _, rt := range req.Topics {
			add(rt.Topic, rt.TopicID)
		}
		return resp
	})
}

func (f *forwardingController) CreatePartitions(ctx context.Context, req *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse {
	if c := f.activeLocal(); c != nil {
		return c.CreatePartitions(ctx, req)
	}
	return forward(ctx, f.remote, req, func(req *kmsg.CreatePartitionsRequest, code int16) *kmsg.CreatePartitionsResponse {
		resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewCreatePartitionsResponseTopic()
			st.Topic, st.ErrorCode = rt.Topic, code
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	})
}

func (f *forwardingController) AlterConfigs(ctx context.Context, req *kmsg.AlterConfigsRequest) *kmsg.AlterConfigsResponse {
	if c := f.activeLocal(); c != nil {
		return c.AlterConfigs(ctx, req)
	}
	return forward(ctx, f.remote, req, func(req *kmsg.AlterConfigsRequest, code int16) *kmsg.AlterConfigsResponse {
		resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
		for _, rr := range req.Resources {
			st := kmsg.NewAlterConfigsResponseResource()
			st.ResourceType, st.ResourceName, st.ErrorCode = rr.ResourceType, rr.ResourceName, code
			resp.Resources = append(resp.Resources, st)
		}
		return resp
	})
}

func (f *forwardingController) IncrementalAlterConfigs(ctx context.Context, req *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse {
	if c := f.activeLocal(); c != nil {
		return c.IncrementalAlterConfigs(ctx, req)
	}
	return forward(ctx, f.remote, req, func(req *kmsg.IncrementalAlterConfigsRequest, code int16) *kmsg.IncrementalAlterConfigsResponse {
		resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
		for _, rr := range req.Resources {
			st := kmsg.NewIncrementalAlterConfigsResponseResource()
			st.ResourceType, st.ResourceName, st.ErrorCode = rr.ResourceType, rr.ResourceName, code
			resp.Resources = append(resp.Resources, st)
		}
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

// DescribeQuorum is answered by the local controller when it is the Raft
// leader, else by the active controller (as Kafka brokers forward it).
func (f *forwardingController) DescribeQuorum(ctx context.Context, req *kmsg.DescribeQuorumRequest) *kmsg.DescribeQuorumResponse {
	if f.local != nil && f.local.Leader() == f.local.Node().Status().ID {
		return f.local.DescribeQuorum(req)
	}
	return forward(ctx, f.remote, req, func(req *kmsg.DescribeQuorumRequest, code int16) *kmsg.DescribeQuorumResponse {
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

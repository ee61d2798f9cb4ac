package broker

// DescribeCluster, versions 0-2.
//
// One broker, this node, which is also the controller. EndpointType (v1+)
// 1 (brokers) is served; 2 (controllers) is UNSUPPORTED_ENDPOINT_TYPE,
// since Runnel has no separate controller listener. Authorized operations
// are not computed (the "not requested" value).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.DescribeCluster.Int16(), minVersion: 0, maxVersion: 2, handle: handleDescribeCluster})
}

func handleDescribeCluster(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.DescribeClusterRequest)
	resp := msg.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = msg.EndpointType
	if msg.Version >= 1 && msg.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = kmsg.StringPtr("only the broker endpoint type (1) is served")
		r.finish(resp)
		return r
	}
	resp.ClusterID = b.clusterID
	resp.ControllerID = b.cfg.NodeID
	host, port := b.advertised()
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID, br.Host, br.Port = b.cfg.NodeID, host, port
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{br}
	resp.ClusterAuthorizedOperations = -2147483648
	r.finish(resp)
	return r
}

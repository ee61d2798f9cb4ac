package broker

// DescribeCluster, versions 0-2.
//
// The live brokers of the metadata image (unfenced, with their endpoint on
// the client listener, and their racks) and the controller id, as Metadata
// gives them (cluster_brokers.go). EndpointType (v1+) 1 (brokers) is
// served; 2 (controllers) is UNSUPPORTED_ENDPOINT_TYPE: clients reach the
// controllers through the brokers. Authorized operations are not computed
// (the "not requested" value).

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
	live := b.liveBrokers(b.image())
	resp.ControllerID = b.controllerID(live)
	for _, e := range live {
		br := kmsg.NewDescribeClusterResponseBroker()
		br.NodeID, br.Host, br.Port, br.Rack = e.id, e.host, e.port, e.rack
		resp.Brokers = append(resp.Brokers, br)
	}
	resp.ClusterAuthorizedOperations = -2147483648
	r.finish(resp)
	return r
}

package broker

// ApiVersions, versions 0-5.
//
// Answers with exactly the API table (every key registered by the files of
// this package, with its version range). A version we do not know gets
// KIP-511's answer from the connection (UNSUPPORTED_VERSION in a v0
// response that still lists our ranges). v5 (KIP-1242): a client that names
// a cluster id and node id that are not ours gets REBOOTSTRAP_REQUIRED.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.ApiVersions.Int16(), minVersion: 0, maxVersion: 5, handle: handleApiVersions})
}

func handleApiVersions(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.ApiVersionsRequest)
	resp := apiVersionsResponse()
	if msg.Version >= 5 && msg.ClusterID != nil && msg.NodeID >= 0 &&
		(*msg.ClusterID != b.clusterID || msg.NodeID != b.cfg.NodeID) {
		resp.ErrorCode = kerr.RebootstrapRequired.Code
	}
	r.finish(resp)
	return r
}

// apiVersionsResponse lists the API table in key order.
func apiVersionsResponse() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	for _, key := range apiKeysSorted() {
		h := apis[key]
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = h.key, h.minVersion, h.maxVersion
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	return resp
}

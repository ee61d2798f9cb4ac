package broker

// ApiVersions, versions 0-5.
//
// Answers with exactly the API table (every key registered by the files of
// this package, with its version range). A version we do not know gets
// KIP-511's answer from the connection (UNSUPPORTED_VERSION in a v0
// response that still lists our ranges). v5 (KIP-1242): a client that names
// a cluster id and node id that are not ours gets REBOOTSTRAP_REQUIRED.

import (
	"sync"

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
	if req.conn != nil && req.conn.controller {
		resp.ApiKeys = controllerAPIKeyRanges()
	}
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
	resp.ApiKeys = apiKeyRanges()
	return resp
}

// apiKeyRanges is the table as ApiVersions lists it, built once (the table
// is complete when init functions have run) and shared, read-only, by
// every response.
var apiKeyRanges = sync.OnceValue(func() []kmsg.ApiVersionsResponseApiKey {
	var keys []kmsg.ApiVersionsResponseApiKey
	for _, key := range apiKeysSorted() {
		h := apis[key]
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = h.key, h.minVersion, h.maxVersion
		keys = append(keys, k)
	}
	return keys
})

// controllerAPIKeyRanges is the table as the controller listener's
// ApiVersions lists it: controllerListenerAPIs only.
var controllerAPIKeyRanges = sync.OnceValue(func() []kmsg.ApiVersionsResponseApiKey {
	var keys []kmsg.ApiVersionsResponseApiKey
	for _, k := range apiKeyRanges() {
		if controllerListenerAPIs[k.ApiKey] {
			keys = append(keys, k)
		}
	}
	return keys
})

package broker

// AlterConfigs, versions 0-2.
//
// Replaces a topic's config overrides with the ones given (keys not given
// return to the broker default; a null value means not set), through the
// active controller (cluster.go), which validates them as CreateTopics does
// (INVALID_CONFIG) and refuses an unknown topic (UNKNOWN_TOPIC_OR_PARTITION)
// or a resource named twice (INVALID_REQUEST). Broker configs are static in
// Runnel (server.properties): INVALID_REQUEST. The answer comes once this
// broker has applied the change to its live logs. ValidateOnly checks
// without changing.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.AlterConfigs.Int16(), minVersion: 0, maxVersion: 2, handle: handleAlterConfigs, blocking: true})
}

func handleAlterConfigs(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.AlterConfigsRequest)
	fwd := *msg
	fwd.Resources = make([]kmsg.AlterConfigsRequestResource, len(msg.Resources))
	for i, rr := range msg.Resources {
		fwd.Resources[i] = rr
		fwd.Resources[i].Configs = nil
		for _, c := range rr.Configs {
			if c.Value == nil || (rr.ResourceType == kmsg.ConfigResourceTypeTopic && b.deprecatedConfig(rr.ResourceName, c.Name, c.Value)) {
				continue
			}
			fwd.Resources[i].Configs = append(fwd.Resources[i].Configs, c)
		}
	}
	ctx, cancel := b.adminContext(0)
	defer cancel()
	ctrl := b.controllerFor(req)
	resp := ctrl.AlterConfigs(ctx, &fwd)
	if !msg.ValidateOnly {
		if err := b.awaitController(ctx, ctrl); err != nil {
			for i := range resp.Resources {
				if resp.Resources[i].ErrorCode == 0 {
					resp.Resources[i].ErrorCode, resp.Resources[i].ErrorMessage = kerr.RequestTimedOut.Code, kmsg.StringPtr(err.Error())
				}
			}
		}
	}
	resp.Version = msg.Version
	r.finish(resp)
	return r
}

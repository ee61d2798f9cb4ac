package broker

// AlterConfigs, versions 0-2.
//
// Replaces a topic's config overrides with the ones given (keys not given
// return to the broker default; a null value means not set), through the
// active controller (cluster.go), which validates them as CreateTopics does
// (INVALID_CONFIG) and refuses an unknown topic (UNKNOWN_TOPIC_OR_PARTITION)
// or a resource named twice (INVALID_REQUEST). Broker configs are static in
// Runnel (server.properties: INVALID_REQUEST) but for the replication
// throttles (replication_throttle.go). The answer comes once this
// broker has applied the change to its live logs. ValidateOnly checks
// without changing.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.AlterConfigs.Int16(), minVersion: 0, maxVersion: 2, handle: handleAlterConfigs, blocking: true})
}

func handleAlterConfigs(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.AlterConfigsRequest)
	resp := msg.ResponseKind().(*kmsg.AlterConfigsResponse)
	resp.Resources = make([]kmsg.AlterConfigsResponseResource, len(msg.Resources))
	fwd := *msg
	fwd.Resources = make([]kmsg.AlterConfigsRequestResource, len(msg.Resources))
	at := make([]int, len(msg.Resources)) // every resource goes to the controller
	for i, rr := range msg.Resources {
		resp.Resources[i] = kmsg.NewAlterConfigsResponseResource()
		resp.Resources[i].ResourceType, resp.Resources[i].ResourceName = rr.ResourceType, rr.ResourceName
		at[i] = i
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
	forwardItems(ctx, b, ctrl, msg.ValidateOnly, at,
		func() []kmsg.AlterConfigsResponseResource { return ctrl.AlterConfigs(ctx, &fwd).Resources },
		func(a *kmsg.AlterConfigsResponseResource) (int16, *string) { return a.ErrorCode, a.ErrorMessage },
		func(i int, _ *kmsg.AlterConfigsResponseResource, code int16, message *string) {
			resp.Resources[i].ErrorCode, resp.Resources[i].ErrorMessage = code, message
		})
	r.finish(resp)
	return r
}

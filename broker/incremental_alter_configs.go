package broker

// IncrementalAlterConfigs, versions 0-1.
//
// Changes some of a topic's config overrides through the active controller
// (cluster.go): SET a value, DELETE (back to the broker default), APPEND to
// or SUBTRACT from a list (cleanup.policy; other keys are INVALID_CONFIG
// for these ops). Values are validated as in CreateTopics; all of a
// resource's changes apply or none. An unknown key is INVALID_CONFIG, for
// DELETE too (checked here). Broker configs are static in Runnel
// (INVALID_REQUEST) but for the replication throttles
// (replication_throttle.go), set on a broker id or "" for all. The answer comes once this broker has applied the
// change to its live logs. ValidateOnly checks without changing.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.IncrementalAlterConfigs.Int16(), minVersion: 0, maxVersion: 1, handle: handleIncrementalAlterConfigs, blocking: true})
}

func handleIncrementalAlterConfigs(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.IncrementalAlterConfigsRequest)
	resp := msg.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	resp.Resources = make([]kmsg.IncrementalAlterConfigsResponseResource, len(msg.Resources))
	fwd := *msg
	fwd.Resources = nil
	var at []int
	for i, rr := range msg.Resources {
		res := &resp.Resources[i]
		*res = kmsg.NewIncrementalAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		if rr.ResourceType == kmsg.ConfigResourceTypeTopic {
			var err error
			rr.Configs, err = b.topicConfigOps(rr.ResourceName, rr.Configs)
			if err != nil {
				res.ErrorCode, res.ErrorMessage = errCode(err), errMessage(err)
				continue
			}
		}
		fwd.Resources = append(fwd.Resources, rr)
		at = append(at, i)
	}
	ctx, cancel := b.adminContext(0)
	defer cancel()
	ctrl := b.controllerFor(req)
	forwardItems(ctx, b, ctrl, msg.ValidateOnly, at,
		func() []kmsg.IncrementalAlterConfigsResponseResource {
			return ctrl.IncrementalAlterConfigs(ctx, &fwd).Resources
		},
		func(a *kmsg.IncrementalAlterConfigsResponseResource) (int16, *string) {
			return a.ErrorCode, a.ErrorMessage
		},
		func(i int, _ *kmsg.IncrementalAlterConfigsResponseResource, code int16, message *string) {
			resp.Resources[i].ErrorCode, resp.Resources[i].ErrorMessage = code, message
		})
	r.finish(resp)
	return r
}

// topicConfigOps refuses unknown keys (the controller checks the values
// it writes, not the keys it deletes) and drops the deprecated ones.
func (b *Broker) topicConfigOps(topic string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) ([]kmsg.IncrementalAlterConfigsRequestResourceConfig, error) {
	var out []kmsg.IncrementalAlterConfigsRequestResourceConfig
	for _, op := range ops {
		_, known := topicConfigDefFor(op.Name)
		_, deprecated := deprecatedTopicConfigs[op.Name]
		switch {
		case !known && !deprecated:
			return nil, kafkaErr(kerr.InvalidConfig, "unknown topic config %q", op.Name)
		case deprecated && (op.Op == kmsg.IncrementalAlterConfigOpDelete || op.Op == kmsg.IncrementalAlterConfigOpSet && b.deprecatedConfig(topic, op.Name, op.Value)):
			continue
		}
		out = append(out, op)
	}
	return out, nil
}

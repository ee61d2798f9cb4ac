package broker

// IncrementalAlterConfigs, versions 0-1.
//
// Changes some of a topic's config overrides: SET a value, DELETE (back to
// the broker default), APPEND to or SUBTRACT from a list (cleanup.policy;
// other keys are INVALID_CONFIG for these ops). The result is validated as
// in CreateTopics, persisted and applied to the live logs at once; all of a
// resource's changes apply or none. ValidateOnly checks without changing.
// Broker configs are static in Runnel: INVALID_REQUEST.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/controller"
)

func init() {
	registerAPI(apiHandler{key: kmsg.IncrementalAlterConfigs.Int16(), minVersion: 0, maxVersion: 1, handle: handleIncrementalAlterConfigs, blocking: true})
}

func handleIncrementalAlterConfigs(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.IncrementalAlterConfigsRequest)
	resp := msg.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	seen := map[[2]string]int{}
	for _, rr := range msg.Resources {
		seen[resourceKey(rr.ResourceType, rr.ResourceName)]++
	}
	for _, rr := range msg.Resources {
		res := kmsg.NewIncrementalAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		err := checkAlterResource(rr.ResourceType, rr.ResourceName, seen)
		if err == nil {
			err = b.alterTopicConfig(rr.ResourceName, func(overrides map[string]string) (map[string]string, error) {
				return applyIncrementalOps(b, rr.ResourceName, overrides, rr.Configs)
			}, msg.ValidateOnly)
		}
		res.ErrorCode, res.ErrorMessage = errCode(err), errMessage(err)
		resp.Resources = append(resp.Resources, res)
	}
	r.finish(resp)
	return r
}

// applyIncrementalOps applies the ops to a copy of a topic's overrides.
func applyIncrementalOps(b *Broker, topicName string, overrides map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) (map[string]string, error) {
	seen := map[string]bool{}
	for _, c := range ops {
		if seen[c.Name] {
			return nil, kafkaErr(kerr.InvalidRequest, "config %q is given twice", c.Name)
		}
		seen[c.Name] = true
		def, ok := topicConfigDefFor(c.Name)
		if _, deprecated := deprecatedTopicConfigs[c.Name]; deprecated {
			// Validated and dropped with the other overrides.
			def, ok = topicConfigDef{name: c.Name, typ: kmsg.ConfigTypeString}, true
		}
		if !ok {
			return nil, kafkaErr(kerr.InvalidConfig, "unknown topic config %q", c.Name)
		}
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return nil, kafkaErr(kerr.InvalidConfig, "null value for %q", c.Name)
			}
			overrides[c.Name] = *c.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(overrides, c.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if def.typ != kmsg.ConfigTypeList {
				return nil, kafkaErr(kerr.InvalidConfig, "%v applies to list configs only, not %q", c.Op, c.Name)
			}
			if c.Value == nil {
				return nil, kafkaErr(kerr.InvalidConfig, "null value for %q", c.Name)
			}
			current := b.topic(topicName).settings.Load().values[c.Name]
			overrides[c.Name] = controller.EditList(current, *c.Value, c.Op == kmsg.IncrementalAlterConfigOpAppend)
		default:
			return nil, kafkaErr(kerr.InvalidRequest, "unknown op %d for %q", c.Op, c.Name)
		}
	}
	return overrides, nil
}

package broker

// AlterConfigs, versions 0-2.
//
// Replaces a topic's config overrides with the ones given (keys not given
// return to the broker default; a null value means not set), validated as
// in CreateTopics (INVALID_CONFIG), persisted, and applied to the live
// logs at once. ValidateOnly checks without changing. Broker configs are
// static in Runnel (server.properties): INVALID_REQUEST. A resource named
// twice is INVALID_REQUEST.

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
	resp := msg.ResponseKind().(*kmsg.AlterConfigsResponse)
	seen := map[[2]string]int{}
	for _, rr := range msg.Resources {
		seen[resourceKey(rr.ResourceType, rr.ResourceName)]++
	}
	for _, rr := range msg.Resources {
		res := kmsg.NewAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		err := checkAlterResource(rr.ResourceType, rr.ResourceName, seen)
		if err == nil {
			err = b.alterTopicConfig(rr.ResourceName, func(map[string]string) (map[string]string, error) {
				next := make(map[string]string, len(rr.Configs))
				for _, c := range rr.Configs {
					if _, dup := next[c.Name]; dup {
						return nil, kafkaErr(kerr.InvalidRequest, "config %q is given twice", c.Name)
					}
					if c.Value != nil {
						next[c.Name] = *c.Value
					}
				}
				return next, nil
			}, msg.ValidateOnly)
		}
		res.ErrorCode, res.ErrorMessage = errCode(err), errMessage(err)
		resp.Resources = append(resp.Resources, res)
	}
	r.finish(resp)
	return r
}

func resourceKey(t kmsg.ConfigResourceType, name string) [2]string {
	return [2]string{t.String(), name}
}

// checkAlterResource rejects what AlterConfigs and IncrementalAlterConfigs
// cannot change: anything but a topic, or a resource named twice.
func checkAlterResource(t kmsg.ConfigResourceType, name string, seen map[[2]string]int) error {
	switch {
	case seen[resourceKey(t, name)] > 1:
		return kafkaErr(kerr.InvalidRequest, "resource %v %q is named more than once", t, name)
	case t == kmsg.ConfigResourceTypeBroker:
		return kafkaErr(kerr.InvalidRequest, "broker configs are static in Runnel; set them in server.properties")
	case t != kmsg.ConfigResourceTypeTopic:
		return kafkaErr(kerr.InvalidRequest, "resource type %v is not supported", t)
	}
	return nil
}

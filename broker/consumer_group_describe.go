package broker

// ConsumerGroupDescribe, versions 0-1: KIP-848 consumer groups with their
// group and assignment epochs, assignor, and each member's subscription,
// current and target assignment. Classic groups are GROUP_ID_NOT_FOUND
// (DescribeGroups describes them). Authorized operations are not computed
// (the "not requested" value).

import "github.com/twmb/franz-go/pkg/kmsg"

func init() {
	registerAPI(apiHandler{key: kmsg.ConsumerGroupDescribe.Int16(), minVersion: 0, maxVersion: 1, handle: handleConsumerGroupDescribe})
}

func handleConsumerGroupDescribe(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.ConsumerGroupDescribeRequest)
	resp := msg.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, name := range msg.Groups {
		resp.Groups = append(resp.Groups, b.groups.DescribeConsumerGroup(name))
	}
	r.finish(resp)
	return r
}

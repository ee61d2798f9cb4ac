package broker

// DescribeGroups, versions 0-6: state, protocol type, protocol and members
// of each group (member metadata and assignment only while Stable, as
// Kafka shows them). An unknown group is reported in state Dead, with
// GROUP_ID_NOT_FOUND from v6 and no error before. Authorized operations
// are not computed (the "not requested" value).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.DescribeGroups.Int16(), minVersion: 0, maxVersion: 6, handle: handleDescribeGroups})
}

func handleDescribeGroups(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.DescribeGroupsRequest)
	resp := msg.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range msg.Groups {
		g := b.groups.DescribeGroup(name)
		if g.ErrorCode == kerr.GroupIDNotFound.Code && msg.Version < 6 {
			g.ErrorCode = 0
		}
		resp.Groups = append(resp.Groups, g)
	}
	r.finish(resp)
	return r
}

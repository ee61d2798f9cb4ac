package broker

// LeaveGroup, versions 0-5: members leave and the group rebalances. Up to
// v2 one member by id; from v3 a batch, each by member id or by
// group.instance.id (static members leaving for good), with an error each.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/group"
)

func init() {
	registerAPI(apiHandler{key: kmsg.LeaveGroup.Int16(), minVersion: 0, maxVersion: 5, handle: handleLeaveGroup})
}

func handleLeaveGroup(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.LeaveGroupRequest)
	resp := msg.ResponseKind().(*kmsg.LeaveGroupResponse)
	var leaving []group.Leaving
	if msg.Version < 3 {
		leaving = []group.Leaving{{MemberID: msg.MemberID}}
	} else {
		for _, m := range msg.Members {
			leaving = append(leaving, group.Leaving{MemberID: m.MemberID, InstanceID: m.InstanceID})
		}
	}
	errs, err := b.groups.LeaveGroup(msg.Group, leaving)
	switch {
	case err != nil:
		resp.ErrorCode = err.Code
	case msg.Version < 3:
		resp.ErrorCode = codeOf(errs[0])
	default:
		for i, m := range msg.Members {
			rm := kmsg.NewLeaveGroupResponseMember()
			rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, codeOf(errs[i])
			resp.Members = append(resp.Members, rm)
		}
	}
	r.finish(resp)
	return r
}

// codeOf is a kerr error's code, 0 for nil.
func codeOf(err *kerr.Error) int16 {
	if err == nil {
		return 0
	}
	return err.Code
}

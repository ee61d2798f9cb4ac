package group

import (
	"sort"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/segment"
)

// DescribeGroup describes one group: state, protocol and members (with
// their metadata and assignment only while Stable, as Kafka does). An
// unknown group is GROUP_ID_NOT_FOUND in state Dead.
func (c *Coordinator) DescribeGroup(name string) kmsg.DescribeGroupsResponseGroup {
	d := kmsg.NewDescribeGroupsResponseGroup()
	d.Group = name
	if c.closed.Load() {
		d.ErrorCode = kerr.NotCoordinator.Code
		return d
	}
	g := c.lookup(name, false)
	if g == nil {
		d.ErrorCode = kerr.GroupIDNotFound.Code
		d.State = stateDead.String()
		return d
	}
	defer g.mu.Unlock()
	d.State = g.state.String()
	d.ProtocolType = g.protocolType
	stable := g.state == stateStable
	if stable {
		d.Protocol = g.protocol
	}
	for _, m := range g.sortedMembersLocked() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = m.id
		dm.InstanceID = m.instanceID
		dm.ClientID = m.clientID
		dm.ClientHost = m.clientHost
		if stable {
			dm.ProtocolMetadata = m.metadata(g.protocol)
			dm.MemberAssignment = m.assignment
		}
		d.Members = append(d.Members, dm)
	}
	return d
}

// ListGroups lists the groups, sorted by name, keeping only those in one of
// states (case-insensitive; none: all) and, when types is not empty, only
// if it names "classic", the only type of group Runnel has.
func (c *Coordinator) ListGroups(states, types []string) []kmsg.ListGroupsResponseGroup {
	if len(types) > 0 && !containsFold(types, "classic") {
		return nil
	}
	var out []kmsg.ListGroupsResponseGroup
	c.groups.Range(func(_, v any) bool {
		g := v.(*group)
		g.mu.Lock()
		s, protocolType := g.state, g.protocolType
		g.mu.Unlock()
		if s == stateDead || (len(states) > 0 && !containsFold(states, s.String())) {
			return true
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.name, protocolType, s.String(), "classic"
		out = append(out, lg)
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// DeleteGroups deletes empty groups with their offsets; respond gets one
// result per name, in order, once the tombstones are durable.
// GROUP_ID_NOT_FOUND for an unknown group, NON_EMPTY_GROUP for one with
// members.
func (c *Coordinator) DeleteGroups(names []string, respond func([]kmsg.DeleteGroupsResponseGroup)) {
	results := make([]kmsg.DeleteGroupsResponseGroup, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		r := &results[i]
		*r = kmsg.NewDeleteGroupsResponseGroup()
		r.Group = name
		if err := c.deleteGroup(name, func(err *kerr.Error) {
			if err != nil {
				r.ErrorCode = err.Code
			}
			wg.Done()
		}, &wg); err != nil {
			r.ErrorCode = err.Code
		}
	}
	go func() {
		wg.Wait()
		respond(results)
	}()
}

// deleteGroup starts deleting one group: an error now, or wg.Add(1) and
// done once the tombstones are durable.
func (c *Coordinator) deleteGroup(name string, done func(*kerr.Error), wg *sync.WaitGroup) *kerr.Error {
	switch {
	case c.closed.Load():
		return kerr.NotCoordinator
	case name == "":
		return kerr.InvalidGroupID
	}
	g := c.lookup(name, false)
	if g == nil {
		return kerr.GroupIDNotFound
	}
	defer g.mu.Unlock()
	if g.state != stateEmpty || len(g.members) > 0 || len(g.pending) > 0 {
		return kerr.NonEmptyGroup
	}
	records := make([]segment.KeyValue, 0, len(g.offsets)+1)
	for tp := range g.offsets {
		records = append(records, segment.KeyValue{Key: offsetKey(g.name, tp.topic, tp.partition)})
	}
	records = append(records, segment.KeyValue{Key: groupKey(g.name)})
	g.stopJoinTimerLocked()
	g.setStateLocked(stateDead)
	g.offsets = map[topicPartition]offset{}
	c.removeLocked(g)
	c.logger.Info("group deleted", "group", name, "offsets", len(records)-1)
	wg.Add(1)
	g.appendLocked(records, func(err error) {
		if err != nil {
			c.logger.Error("writing the tombstones of a deleted group failed", "group", name, "err", err)
			done(kerr.CoordinatorNotAvailable)
			return
		}
		done(nil)
	})
	return nil
}

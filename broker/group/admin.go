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
	found, err := c.withGroup(name, func(g *group) { d = g.describeLocked(d) })
	switch {
	case err != nil:
		d.ErrorCode = err.Code
	case !found:
		d.ErrorCode = kerr.GroupIDNotFound.Code
		d.State = stateDead.String()
	}
	return d
}

// describeLocked fills d, DescribeGroups' answer for g.
func (g *group) describeLocked(d kmsg.DescribeGroupsResponseGroup) kmsg.DescribeGroupsResponseGroup {
	if g.consumer != nil {
		return g.describeConsumerLocked(d)
	}
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

// ListGroups lists the groups of the partitions served, sorted by name,
// keeping only those in one of states (case-insensitive; none: all) and of
// one of types ("classic", "consumer" for KIP-848 groups; none: all). The
// groups of partitions still loading are not listed (see Loading).
func (c *Coordinator) ListGroups(states, types []string) []kmsg.ListGroupsResponseGroup {
	var out []kmsg.ListGroupsResponseGroup
	c.served(func(t *groupTable) {
		t.groups.Range(func(_, v any) bool {
			g := v.(*group)
			g.mu.Lock()
			s, protocolType, kind := g.state.String(), g.protocolType, "classic"
			if g.consumer != nil {
				s, kind = g.consumer.stateName(), "consumer"
			}
			dead := g.state == stateDead
			g.mu.Unlock()
			if dead || (len(states) > 0 && !containsFold(states, s)) || (len(types) > 0 && !containsFold(types, kind)) {
				return true
			}
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.name, protocolType, s, kind
			out = append(out, lg)
			return true
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// Loading reports whether some partition is still loading, so that a
// ListGroups answer lacks its groups: Kafka then answers
// COORDINATOR_LOAD_IN_PROGRESS beside the groups it lists.
func (c *Coordinator) Loading() bool {
	for i := range c.partitions {
		if t := c.partitions[i].Load(); t != nil && t.loading.Load() {
			return true
		}
	}
	return false
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
	if name == "" {
		return kerr.InvalidGroupID
	}
	err := kerr.GroupIDNotFound
	if _, notServed := c.withGroup(name, func(g *group) { err = c.deleteGroupLocked(g, done, wg) }); notServed != nil {
		return notServed
	}
	return err
}

// deleteGroupLocked starts deleting g, as deleteGroup says.
func (c *Coordinator) deleteGroupLocked(g *group, done func(*kerr.Error), wg *sync.WaitGroup) *kerr.Error {
	if g.state != stateEmpty || g.hasMembersLocked() || len(g.pending) > 0 {
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
	c.logger.Info("group deleted", "group", g.name, "offsets", len(records)-1)
	wg.Add(1)
	g.appendLocked(records, func(err error) {
		if err != nil {
			c.logger.Error("writing the tombstones of a deleted group failed", "group", g.name, "err", err)
			done(kerr.CoordinatorNotAvailable)
			return
		}
		done(nil)
	})
	return nil
}

// describeConsumerLocked describes a KIP-848 group as DescribeGroups shows
// one: protocol type "consumer", the assignor as protocol, and each
// member's subscription and assignment in the consumer protocol's schemas.
func (g *group) describeConsumerLocked(d kmsg.DescribeGroupsResponseGroup) kmsg.DescribeGroupsResponseGroup {
	cs := g.consumer
	d.State = cs.stateName()
	d.ProtocolType = "consumer"
	for _, id := range sortedKeys(cs.members) {
		m := cs.members[id]
		d.Protocol = m.assignor
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = m.subscribed
		dm.ProtocolMetadata = meta.AppendTo(nil)
		assignment := kmsg.NewConsumerMemberAssignment()
		current := minus(m.assigned, m.revoking)
		for _, t := range sortedKeys(current) {
			assignment.Topics = append(assignment.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: t, Partitions: current[t]})
		}
		dm.MemberAssignment = assignment.AppendTo(nil)
		d.Members = append(d.Members, dm)
	}
	return d
}

package group

// KIP-848 consumer groups: ConsumerGroupHeartbeat with server-side
// assignment.
//
// A group id names either a classic group or a consumer group; an empty
// group changes kind when a member of the other protocol joins, keeping its
// offsets. Every change of membership, of a member's subscription or of the
// partition counts of subscribed topics bumps the group epoch; the target
// assignment (the "uniform" or "range" assignor) is recomputed for it. Each
// member then reconciles on its own heartbeats: it first releases the
// partitions it must give up (the heartbeat's answer leaves them out, and
// its next heartbeat listing what it owns acknowledges the release), only
// then moves to the new epoch and receives the partitions of its target
// that no other member still holds. So a partition is never owned by two
// members. A member that does not release in its rebalance timeout, or
// sends no heartbeat in group.consumer.session.timeout.ms, is removed.
//
// Members and epochs are kept in memory only: after a restart members are
// unknown and join again (UNKNOWN_MEMBER_ID); committed offsets persist as
// for classic groups.
//
// A member subscribes to topic names, a regular expression, or both. The
// coordinator resolves an expression against every topic, internal ones
// included (as Kafka's TopicRegexResolver does), matching whole names. Kafka
// compiles expressions with RE2/J and Runnel with Go's regexp, which is RE2:
// the same syntax, bar a few rarely used extensions of either. Resolutions
// are kept per group and redone when a topic has been created or deleted
// since, at the next heartbeat of any member; a change bumps the group
// epoch and so reassigns.

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consumerState is the KIP-848 state of a consumer group.
type consumerState struct {
	epoch           int32 // group epoch
	assignmentEpoch int32 // epoch of target
	members         map[string]*consumerMember
	static          map[string]string             // group.instance.id -> member id
	target          map[string]map[string][]int32 // member id -> topic -> partitions
	metadata        string                        // subscribed topics and partition counts, as of the last epoch
	regexes         map[string]*resolvedRegex     // the members' regular expressions, by source
}

// resolvedRegex is a regular-expression subscription resolved against the
// topics of one version of the topic list.
type resolvedRegex struct {
	re      *regexp.Regexp
	version any
	topics  []string // sorted
}

// consumerMember is one member of a consumer group.
type consumerMember struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	rebalanceTimeout time.Duration
	subscribed       []string // topic names, sorted
	regex            string   // regular-expression subscription; "" for none
	assignor         string
	epoch            int32
	previousEpoch    int32
	assigned         map[string][]int32 // what the member may own (includes revoking)
	revoking         map[string][]int32 // to release before moving to the next epoch
	revokeSince      time.Time
	lastHeartbeat    time.Time
	session          func() bool
	lastSent         string // the assignment last sent, to send only changes
}

// Server-side assignors.
const (
	assignorUniform = "uniform"
	assignorRange   = "range"
)

func (c *Coordinator) heartbeatError(req *kmsg.ConsumerGroupHeartbeatRequest, err *kerr.Error, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.ErrorCode = err.Code
	if msg != "" {
		resp.ErrorMessage = kmsg.StringPtr(msg)
	}
	return resp
}

// ConsumerGroupHeartbeat handles a ConsumerGroupHeartbeat request (v0-v1):
// joins (epoch 0), heartbeats with the current or previous epoch, and
// leaves (epoch -1, or -2 for a static member).
func (c *Coordinator) ConsumerGroupHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, clientID, clientHost string) *kmsg.ConsumerGroupHeartbeatResponse {
	if err, msg := c.checkHeartbeat(req); err != nil {
		return c.heartbeatError(req, err, msg)
	}
	if req.MemberEpoch == 0 && req.MemberID == "" {
		var id [16]byte
		rand.Read(id[:])
		req.MemberID = base64.RawURLEncoding.EncodeToString(id[:])
	}
	var resp *kmsg.ConsumerGroupHeartbeatResponse
	found, err := c.withGroupCreatedIf(req.Group, req.MemberEpoch == 0, func(g *group) {
		resp = c.consumerHeartbeatLocked(g, req, clientID, clientHost)
	})
	switch {
	case err != nil:
		return c.heartbeatError(req, err, "")
	case !found:
		return c.heartbeatError(req, kerr.UnknownMemberID, "")
	}
	return resp
}

// checkHeartbeat checks what a heartbeat says on its own, before its group
// is looked up: the error and message to answer with, or nil.
func (c *Coordinator) checkHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (*kerr.Error, string) {
	if req.Group == "" {
		return kerr.InvalidGroupID, ""
	}
	if err := c.serving(req.Group); err != nil {
		return err, ""
	}
	switch {
	case req.MemberEpoch < -2:
		return kerr.InvalidRequest, "member epoch below -2"
	case req.MemberID == "" && (req.Version >= 1 || req.MemberEpoch != 0):
		return kerr.InvalidRequest, "member id is required"
	case req.SubscribedTopicRegex != nil && c.cfg.TopicNames == nil:
		return kerr.InvalidRequest, "regular-expression subscriptions are not available"
	case req.ServerAssignor != nil && *req.ServerAssignor != assignorUniform && *req.ServerAssignor != assignorRange:
		return kerr.UnsupportedAssignor, "assignors: uniform, range"
	case c.cfg.TopicInfo == nil || c.cfg.TopicName == nil:
		return kerr.UnsupportedVersion, ""
	}
	if req.MemberEpoch == 0 {
		switch {
		case req.RebalanceTimeoutMillis <= 0:
			return kerr.InvalidRequest, "rebalance timeout is required to join"
		case req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
			return kerr.InvalidRequest, "subscribed topic names or a regular expression are required to join"
		case len(req.Topics) > 0:
			return kerr.InvalidRequest, "a joining member owns no partitions"
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		if _, err := compileTopicRegex(*req.SubscribedTopicRegex); err != nil {
			return kerr.InvalidRegularExpression, fmt.Sprintf("SubscribedTopicRegex `%s` is not a valid regular expression: %v.", *req.SubscribedTopicRegex, err)
		}
	}
	return nil, ""
}

// consumerHeartbeatLocked answers a checked heartbeat for group g: it finds,
// admits or fences the member, or lets it leave, then updates what the
// member subscribes to, the group's epoch and target assignment, and
// moves the member towards its target.
func (c *Coordinator) consumerHeartbeatLocked(g *group, req *kmsg.ConsumerGroupHeartbeatRequest, clientID, clientHost string) *kmsg.ConsumerGroupHeartbeatResponse {
	if g.consumer == nil {
		if len(g.members) > 0 || len(g.pending) > 0 || g.state != stateEmpty {
			return c.heartbeatError(req, kerr.InconsistentGroupProtocol, fmt.Sprintf("group %q is a classic group with members", g.name))
		}
		g.consumer = &consumerState{members: map[string]*consumerMember{}, static: map[string]string{}}
		g.protocolType, g.protocol, g.leader = "consumer", "", ""
	}
	cs := g.consumer
	now := c.clock.Now()
	m := cs.members[req.MemberID]
	switch {
	case req.MemberEpoch < 0:
		if m == nil {
			return c.heartbeatError(req, kerr.UnknownMemberID, "")
		}
		g.leaveConsumerLocked(m, req.MemberEpoch)
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.MemberID, resp.MemberEpoch = kmsg.StringPtr(req.MemberID), req.MemberEpoch
		return resp
	case req.MemberEpoch == 0 && m == nil:
		m = g.joinConsumerLocked(req.MemberID, req.InstanceID)
	case m == nil:
		return c.heartbeatError(req, kerr.UnknownMemberID, "")
	case req.MemberEpoch != 0 && req.MemberEpoch != m.epoch &&
		!(req.MemberEpoch == m.previousEpoch && req.Topics != nil && subsetOf(g.ownedNamesLocked(req.Topics), m.assigned)):
		c.logger.Info("fencing consumer group member with a stale epoch", "group", g.name, "member", m.id, "epoch", req.MemberEpoch, "want", m.epoch)
		g.removeConsumerLocked(m)
		return c.heartbeatError(req, kerr.FencedMemberEpoch, "")
	}
	m.lastHeartbeat = now
	m.clientID, m.clientHost = clientID, clientHost
	g.updateSubscriptionLocked(m, req)
	g.updateTargetLocked()
	var owned map[string][]int32
	if req.Topics != nil {
		owned = g.ownedNamesLocked(req.Topics)
	}
	g.reconcileLocked(m, owned, now)
	if m.session == nil {
		g.scheduleConsumerSessionLocked(m, c.cfg.ConsumerSessionTimeout)
	}
	return c.heartbeatResponse(req, m)
}

// leaveConsumerLocked lets m leave with epoch -1, or -2 for a static
// member that leaves for a restart: that one keeps its place until its
// session expires or its instance joins again.
func (g *group) leaveConsumerLocked(m *consumerMember, epoch int32) {
	if epoch == -1 || m.instanceID == nil {
		g.c.logger.Info("consumer group member left", "group", g.name, "member", m.id)
		g.removeConsumerLocked(m)
	}
}

// joinConsumerLocked admits a new member with id. A static member whose
// instance is already in the group takes over the old member's place,
// epoch and partitions, with no new assignment; any other join bumps the
// group epoch.
func (g *group) joinConsumerLocked(id string, instanceID *string) *consumerMember {
	cs := g.consumer
	m := &consumerMember{id: id, instanceID: instanceID, assignor: assignorUniform, assigned: map[string][]int32{}}
	if old := g.staticConsumerLocked(instanceID); old != nil {
		m.epoch, m.previousEpoch, m.subscribed, m.regex, m.assignor = old.epoch, old.previousEpoch, old.subscribed, old.regex, old.assignor
		m.assigned, m.revoking, m.revokeSince = old.assigned, old.revoking, old.revokeSince
		if old.session != nil {
			old.session()
		}
		delete(cs.members, old.id)
		if t, ok := cs.target[old.id]; ok {
			delete(cs.target, old.id)
			cs.target[m.id] = t
		}
		g.c.logger.Info("consumer group static member rejoined", "group", g.name, "instance", *m.instanceID, "old", old.id, "new", m.id)
	} else {
		cs.epoch++
		g.c.logger.Info("consumer group member joined", "group", g.name, "member", m.id, "group.epoch", cs.epoch)
	}
	cs.members[m.id] = m
	if m.instanceID != nil {
		cs.static[*m.instanceID] = m.id
	}
	g.setStateLocked(stateStable)
	return m
}

// updateSubscriptionLocked takes what req changes of m's settings: its
// rebalance timeout, assignor, topic names and regular expression. A
// changed subscription bumps the group epoch.
func (g *group) updateSubscriptionLocked(m *consumerMember, req *kmsg.ConsumerGroupHeartbeatRequest) {
	cs := g.consumer
	if req.RebalanceTimeoutMillis > 0 {
		m.rebalanceTimeout = ms(req.RebalanceTimeoutMillis)
	}
	if req.ServerAssignor != nil {
		m.assignor = *req.ServerAssignor
	}
	if req.SubscribedTopicNames != nil {
		subscribed := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(subscribed)
		subscribed = slices.Compact(subscribed)
		if !slices.Equal(subscribed, m.subscribed) {
			m.subscribed = subscribed
			cs.epoch++
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.regex {
		m.regex = *req.SubscribedTopicRegex
		cs.epoch++
	}
}

// updateTargetLocked bumps the group epoch when a regular expression now
// resolves to other topics or a subscribed topic's partition count has
// changed, and recomputes the target assignment when the epoch is newer
// than the one it was computed for.
func (g *group) updateTargetLocked() {
	cs := g.consumer
	if g.resolveRegexesLocked() {
		cs.epoch++
	}
	if md := g.subscriptionMetadataLocked(); md != cs.metadata {
		cs.metadata = md
		cs.epoch++
	}
	if cs.epoch > cs.assignmentEpoch {
		cs.target = g.assignLocked848()
		cs.assignmentEpoch = cs.epoch
		g.c.logger.Info("consumer group assignment computed", "group", g.name, "group.epoch", cs.epoch, "members", len(cs.members))
	}
}

// heartbeatResponse answers req for m: its epoch and, when it changed or
// the member asks for it (a join, or a heartbeat listing what it owns),
// the partitions it may own now.
func (c *Coordinator) heartbeatResponse(req *kmsg.ConsumerGroupHeartbeatRequest, m *consumerMember) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.MemberID = kmsg.StringPtr(m.id)
	resp.MemberEpoch = m.epoch
	resp.HeartbeatIntervalMillis = int32(c.cfg.ConsumerHeartbeatInterval.Milliseconds())
	current := minus(m.assigned, m.revoking)
	if sig := assignmentString(current); sig != m.lastSent || req.Topics != nil || req.MemberEpoch == 0 {
		m.lastSent = sig
		resp.Assignment = &kmsg.ConsumerGroupHeartbeatResponseAssignment{}
		for _, topic := range sortedKeys(current) {
			id, _, ok := c.cfg.TopicInfo(topic)
			if !ok {
				continue
			}
			resp.Assignment.Topics = append(resp.Assignment.Topics, kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{TopicID: id, Partitions: slices.Clone(current[topic])})
		}
	}
	return resp
}

// reconcileLocked moves m towards its target: first the release of the
// partitions it must give up (acknowledged by owned, the partitions its
// heartbeat says it owns; nil: unchanged), then the new epoch and the
// partitions of its target that no other member holds.
func (g *group) reconcileLocked(m *consumerMember, owned map[string][]int32, now time.Time) {
	cs := g.consumer
	if len(m.revoking) > 0 {
		if owned == nil || intersects(owned, m.revoking) {
			return // still releasing
		}
		m.assigned = minus(m.assigned, m.revoking)
		m.revoking = nil
	}
	target := cs.target[m.id]
	if revoke := minus(m.assigned, target); len(revoke) > 0 {
		m.revoking, m.revokeSince = revoke, now
		return
	}
	if m.epoch != cs.assignmentEpoch {
		m.previousEpoch, m.epoch = m.epoch, cs.assignmentEpoch
	}
	held := map[string]map[int32]bool{}
	for _, o := range cs.members {
		if o == m {
			continue
		}
		for topic, ps := range o.assigned {
			if held[topic] == nil {
				held[topic] = map[int32]bool{}
			}
			for _, p := range ps {
				held[topic][p] = true
			}
		}
	}
	for topic, ps := range target {
		for _, p := range ps {
			if !held[topic][p] && !slices.Contains(m.assigned[topic], p) {
				m.assigned[topic] = append(m.assigned[topic], p)
			}
		}
		slices.Sort(m.assigned[topic])
	}
}

// staticConsumerLocked is the member holding a group.instance.id, or nil.
func (g *group) staticConsumerLocked(instanceID *string) *consumerMember {
	if instanceID == nil {
		return nil
	}
	return g.consumer.members[g.consumer.static[*instanceID]]
}

// removeConsumerLocked takes a member out of a consumer group; its
// partitions are free at once and the group epoch moves on.
func (g *group) removeConsumerLocked(m *consumerMember) {
	cs := g.consumer
	if m.session != nil {
		m.session()
	}
	delete(cs.members, m.id)
	if m.instanceID != nil && cs.static[*m.instanceID] == m.id {
		delete(cs.static, *m.instanceID)
	}
	cs.epoch++
	if len(cs.members) == 0 {
		g.setStateLocked(stateEmpty)
	}
}

// scheduleConsumerSessionLocked arms m's session check: a member that
// sends no heartbeat within the session timeout, or does not release
// partitions within its rebalance timeout, is removed.
func (g *group) scheduleConsumerSessionLocked(m *consumerMember, d time.Duration) {
	m.session = g.c.clock.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.consumer == nil || g.consumer.members[m.id] != m || g.state == stateDead || g.c.closed.Load() {
			return
		}
		now := g.c.clock.Now()
		left := m.lastHeartbeat.Add(g.c.cfg.ConsumerSessionTimeout).Sub(now)
		if len(m.revoking) > 0 {
			left = min(left, m.revokeSince.Add(m.rebalanceTimeout).Sub(now))
		}
		if left > 0 {
			g.scheduleConsumerSessionLocked(m, left)
			return
		}
		g.c.logger.Info("consumer group member expired", "group", g.name, "member", m.id, "releasing", len(m.revoking) > 0)
		g.removeConsumerLocked(m)
	})
}

// ownedNamesLocked maps a heartbeat's owned partitions to topic names
// (topics that no longer exist are dropped).
func (g *group) ownedNamesLocked(topics []kmsg.ConsumerGroupHeartbeatRequestTopic) map[string][]int32 {
	owned := map[string][]int32{}
	for _, t := range topics {
		if name, ok := g.c.cfg.TopicName(t.TopicID); ok {
			owned[name] = append(owned[name], t.Partitions...)
		}
	}
	return owned
}

// compileTopicRegex compiles a regular-expression subscription so that it
// matches whole topic names, as RE2/J's Matcher.matches does in Kafka. An
// error describes what is wrong with expr itself.
func compileTopicRegex(expr string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(expr); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + expr + `)$`)
}

// resolveRegexesLocked brings the group's resolved expressions up to date:
// one for each expression its members use, resolved again when a topic has
// been created or deleted since. It reports whether the topics of any
// expression changed.
func (g *group) resolveRegexesLocked() bool {
	cs := g.consumer
	used := map[string]bool{}
	for _, m := range cs.members {
		if m.regex != "" {
			used[m.regex] = true
		}
	}
	for expr := range cs.regexes {
		if !used[expr] {
			delete(cs.regexes, expr)
		}
	}
	if len(used) == 0 {
		return false
	}
	if cs.regexes == nil {
		cs.regexes = map[string]*resolvedRegex{}
	}
	names, version := g.c.cfg.TopicNames()
	changed := false
	for expr := range used {
		r := cs.regexes[expr]
		if r == nil {
			re, err := compileTopicRegex(expr)
			if err != nil {
				continue // cannot happen: the heartbeat that set it checked it
			}
			r = &resolvedRegex{re: re}
			cs.regexes[expr] = r
		} else if r.version == version {
			continue
		}
		var topics []string
		for _, name := range names {
			if r.re.MatchString(name) {
				topics = append(topics, name)
			}
		}
		slices.Sort(topics)
		if !slices.Equal(topics, r.topics) {
			changed = true
			g.c.logger.Info("consumer group regular expression resolved", "group", g.name, "regex", expr, "topics", len(topics))
		}
		r.topics, r.version = topics, version
	}
	return changed
}

// memberTopicsLocked is what m subscribes to: its topic names and the
// topics its regular expression resolves to, sorted.
func (g *group) memberTopicsLocked(m *consumerMember) []string {
	r := g.consumer.regexes[m.regex]
	if m.regex == "" || r == nil || len(r.topics) == 0 {
		return m.subscribed
	}
	topics := append(slices.Clone(m.subscribed), r.topics...)
	slices.Sort(topics)
	return slices.Compact(topics)
}

// subscriptionMetadataLocked describes the topics the members subscribe to
// with their partition counts; a change means a new assignment.
func (g *group) subscriptionMetadataLocked() string {
	topics := map[string]bool{}
	for _, m := range g.consumer.members {
		for _, t := range g.memberTopicsLocked(m) {
			topics[t] = true
		}
	}
	var b strings.Builder
	for _, t := range sortedKeys(topics) {
		_, n, _ := g.c.cfg.TopicInfo(t)
		fmt.Fprintf(&b, "%s:%d,", t, n)
	}
	return b.String()
}

// assignLocked848 computes the target assignment. "range" gives each
// member contiguous ranges of each topic it subscribes to; "uniform" keeps
// partitions where the previous target had them as far as balance allows
// and spreads the rest over the members with the fewest.
func (g *group) assignLocked848() map[string]map[string][]int32 {
	cs := g.consumer
	ids := sortedKeys(cs.members)
	target := make(map[string]map[string][]int32, len(ids))
	for _, id := range ids {
		target[id] = map[string][]int32{}
	}
	if len(ids) == 0 {
		return target
	}
	assignor := cs.members[ids[0]].assignor
	subscribers := map[string][]string{} // topic -> member ids, sorted
	subscribed := map[string][]string{}  // member id -> topics, sorted
	for _, id := range ids {
		subscribed[id] = g.memberTopicsLocked(cs.members[id])
		for _, t := range subscribed[id] {
			subscribers[t] = append(subscribers[t], id)
		}
	}
	topics := sortedKeys(subscribers)
	partitions := func(topic string) int32 {
		_, n, ok := g.c.cfg.TopicInfo(topic)
		if !ok {
			return 0
		}
		return n
	}
	if assignor == assignorRange {
		for _, t := range topics {
			subs, n := subscribers[t], partitions(t)
			per, extra := int(n)/len(subs), int(n)%len(subs)
			p := int32(0)
			for i, id := range subs {
				k := per
				if i < extra {
					k++
				}
				for j := 0; j < k; j++ {
					target[id][t] = append(target[id][t], p)
					p++
				}
			}
		}
		return target
	}
	total := 0
	for _, t := range topics {
		total += int(partitions(t))
	}
	quota := (total + len(ids) - 1) / len(ids)
	counts := map[string]int{}
	var rest [][2]any
	for _, t := range topics {
		for p := int32(0); p < partitions(t); p++ {
			owner := ""
			for id, prev := range cs.target {
				if slices.Contains(prev[t], p) {
					owner = id
					break
				}
			}
			if o := cs.members[owner]; o != nil && slices.Contains(subscribed[owner], t) && counts[owner] < quota {
				target[owner][t] = append(target[owner][t], p)
				counts[owner]++
				continue
			}
			rest = append(rest, [2]any{t, p})
		}
	}
	for _, tp := range rest {
		t, p := tp[0].(string), tp[1].(int32)
		best := ""
		for _, id := range subscribers[t] {
			if best == "" || counts[id] < counts[best] {
				best = id
			}
		}
		target[best][t] = append(target[best][t], p)
		counts[best]++
	}
	for _, m := range target {
		for _, ps := range m {
			slices.Sort(ps)
		}
	}
	return target
}

// consumerStateName is the KIP-848 state DescribeGroups and ListGroups show.
func (cs *consumerState) stateName() string {
	if len(cs.members) == 0 {
		return "Empty"
	}
	for _, m := range cs.members {
		if m.epoch != cs.assignmentEpoch || len(m.revoking) > 0 {
			return "Reconciling"
		}
	}
	return "Stable"
}

func minus(a, b map[string][]int32) map[string][]int32 {
	out := map[string][]int32{}
	for t, ps := range a {
		for _, p := range ps {
			if !slices.Contains(b[t], p) {
				out[t] = append(out[t], p)
			}
		}
	}
	return out
}

func intersects(a, b map[string][]int32) bool {
	for t, ps := range a {
		for _, p := range ps {
			if slices.Contains(b[t], p) {
				return true
			}
		}
	}
	return false
}

func subsetOf(a, b map[string][]int32) bool { return len(minus(a, b)) == 0 }

func assignmentString(a map[string][]int32) string {
	var b strings.Builder
	for _, t := range sortedKeys(a) {
		fmt.Fprintf(&b, "%s:%v;", t, a[t])
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// DescribeConsumerGroup answers ConsumerGroupDescribe for one group: its
// epochs, assignor and members with their current and target
// assignments. A classic group is GROUP_ID_NOT_FOUND, as in Kafka.
func (c *Coordinator) DescribeConsumerGroup(name string) kmsg.ConsumerGroupDescribeResponseGroup {
	d := kmsg.NewConsumerGroupDescribeResponseGroup()
	d.Group = name
	found, err := c.withGroup(name, func(g *group) { d = c.describeConsumerGroupLocked(g, d) })
	switch {
	case err != nil:
		d.ErrorCode = err.Code
	case !found:
		d.ErrorCode = kerr.GroupIDNotFound.Code
	}
	return d
}

// describeConsumerGroupLocked fills d, ConsumerGroupDescribe's answer for g.
func (c *Coordinator) describeConsumerGroupLocked(g *group, d kmsg.ConsumerGroupDescribeResponseGroup) kmsg.ConsumerGroupDescribeResponseGroup {
	cs := g.consumer
	if cs == nil {
		d.ErrorCode = kerr.GroupIDNotFound.Code
		d.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("group %q is not a consumer group", g.name))
		return d
	}
	d.State, d.Epoch, d.AssignmentEpoch = cs.stateName(), cs.epoch, cs.assignmentEpoch
	assignment := func(a map[string][]int32) kmsg.Assignment {
		var out kmsg.Assignment
		for _, t := range sortedKeys(a) {
			id, _, _ := c.cfg.TopicInfo(t)
			out.TopicPartitions = append(out.TopicPartitions, kmsg.AssignmentTopicPartition{TopicID: id, Topic: t, Partitions: slices.Clone(a[t])})
		}
		return out
	}
	for _, id := range sortedKeys(cs.members) {
		m := cs.members[id]
		d.AssignorName = m.assignor
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.MemberEpoch = m.id, m.instanceID, m.epoch
		dm.ClientID, dm.ClientHost, dm.SubscribedTopics = m.clientID, m.clientHost, m.subscribed
		if m.regex != "" {
			dm.SubscribedTopicRegex = kmsg.StringPtr(m.regex)
		}
		dm.Assignment = assignment(minus(m.assigned, m.revoking))
		dm.TargetAssignment = assignment(cs.target[m.id])
		dm.MemberType = 1 // a consumer-protocol member (v1+)
		d.Members = append(d.Members, dm)
	}
	return d
}

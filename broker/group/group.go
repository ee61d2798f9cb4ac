package group

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"math"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/segment"
)

// state is a group's state; the names are Kafka's (DescribeGroups and
// ListGroups show them).
type state int8

const (
	stateEmpty state = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s state) String() string { return stateNames[s] }

// group is one group. Everything after mu is guarded by it.
type group struct {
	name      string
	partition int32 // of __consumer_offsets
	c         *Coordinator

	mu           sync.Mutex
	state        state
	stateTime    time.Time // when state last changed
	protocolType string    // "consumer" for consumer groups; "" for offsets-only groups
	protocol     string    // the protocol chosen for this generation
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string      // group.instance.id -> member id
	pending      map[string]func() bool // KIP-394 member ids handed out, not joined yet -> their expiry timer
	pendingSync  map[string]bool        // members of this generation that have not sent SyncGroup
	offsets      map[topicPartition]offset

	// joinTimer ends the current join phase (initial delay or rebalance
	// timeout); joinEpoch invalidates timers that fire late.
	joinTimer      func() bool
	joinEpoch      uint64
	initialDelay   bool // in the initial delay of an empty group's first rebalance
	newMemberAdded bool // a member joined during the initial delay
	syncTimer      func() bool

	// consumer is the state of a KIP-848 consumer group (consumer.go);
	// nil for a classic group.
	consumer *consumerState
}

// member is one member of a group.
type member struct {
	id               string
	instanceID       *string // static membership (KIP-345)
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []kmsg.JoinGroupRequestProtocol // owned copies
	assignment       []byte

	joinWait func(*kmsg.JoinGroupResponse) // waiting in JoinGroup
	syncWait func(*kmsg.SyncGroupResponse) // waiting in SyncGroup

	lastHeartbeat time.Time
	session       func() bool // stops the session timer
}

// metadata returns the member's metadata for a protocol (nil if it does
// not support it).
func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

func (m *member) isStatic() bool { return m.instanceID != nil }

// hasMembersLocked reports whether the group has members, classic or
// KIP-848.
func (g *group) hasMembersLocked() bool {
	return len(g.members) > 0 || (g.consumer != nil && len(g.consumer.members) > 0)
}

func (c *Coordinator) newGroup(name string) *group {
	return &group{
		name:      name,
		partition: PartitionFor(name, c.cfg.Partitions),
		c:         c,
		stateTime: c.clock.Now(),
		members:   map[string]*member{},
		static:    map[string]string{},
		pending:   map[string]func() bool{},
		offsets:   map[topicPartition]offset{},
	}
}

func (g *group) setStateLocked(s state) {
	g.state = s
	g.stateTime = g.c.clock.Now()
}

func (g *group) sortedMembersLocked() []*member {
	out := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// maxMemberIDPrefix keeps a member id within a protocol string's 32,767
// bytes: the prefix is followed by a dash and a 36-character UUID.
const maxMemberIDPrefix = math.MaxInt16 - 1 - 36

// newMemberID is Kafka's form: the group.instance.id of a static member or
// else the client id, a dash and a random UUID. Either may itself be 32,767
// bytes long (Kafka checks instance ids only in its clients), which would
// make an id that no response can carry; so the prefix is cut short, at a
// UTF-8 character boundary so that clients decoding it as a string send the
// same bytes back. Member ids are opaque to clients, and the UUID keeps
// them unique.
func newMemberID(m *member) string {
	prefix := m.clientID
	if m.instanceID != nil {
		prefix = *m.instanceID
	}
	if len(prefix) > maxMemberIDPrefix {
		n := maxMemberIDPrefix
		for n > 0 && !utf8.RuneStart(prefix[n]) {
			n--
		}
		prefix = prefix[:n]
	}
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return prefix + "-" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func copyProtocols(ps []kmsg.JoinGroupRequestProtocol) []kmsg.JoinGroupRequestProtocol {
	out := make([]kmsg.JoinGroupRequestProtocol, len(ps))
	for i, p := range ps {
		out[i] = kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: bytes.Clone(p.Metadata)}
		if out[i].Metadata == nil {
			out[i].Metadata = []byte{}
		}
	}
	return out
}

func sameProtocols(a, b []kmsg.JoinGroupRequestProtocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Metadata, b[i].Metadata) {
			return false
		}
	}
	return true
}

func ms(n int32) time.Duration { return time.Duration(n) * time.Millisecond }

func joinError(memberID string, err *kerr.Error) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.ErrorCode = err.Code
	resp.Generation = -1
	resp.MemberID = memberID
	return resp
}

func syncError(err *kerr.Error) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.ErrorCode = err.Code
	return resp
}

// JoinGroup handles a JoinGroup request; respond is called exactly once,
// possibly much later (when the rebalance completes).
func (c *Coordinator) JoinGroup(req *kmsg.JoinGroupRequest, clientID, clientHost string, respond func(*kmsg.JoinGroupResponse)) {
	if req.Group == "" {
		respond(joinError(req.MemberID, kerr.InvalidGroupID))
		return
	}
	if err := c.serving(req.Group); err != nil {
		respond(joinError(req.MemberID, err))
		return
	}
	session := ms(req.SessionTimeoutMillis)
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		respond(joinError(req.MemberID, kerr.InvalidSessionTimeout))
		return
	}
	if req.ProtocolType == "" || len(req.Protocols) == 0 {
		respond(joinError(req.MemberID, kerr.InconsistentGroupProtocol))
		return
	}
	if req.Version < 5 {
		req.InstanceID = nil
	}
	found, err := c.withGroupCreatedIf(req.Group, req.MemberID == "", func(g *group) { c.joinLocked(g, req, session, clientID, clientHost, respond) })
	switch {
	case err != nil:
		respond(joinError(req.MemberID, err))
	case !found:
		respond(joinError(req.MemberID, kerr.UnknownMemberID))
	}
}

// joinLocked handles a checked JoinGroup request for g; session is its
// session timeout.
func (c *Coordinator) joinLocked(g *group, req *kmsg.JoinGroupRequest, session time.Duration, clientID, clientHost string, respond func(*kmsg.JoinGroupResponse)) {
	if g.consumer != nil {
		if len(g.consumer.members) > 0 {
			respond(joinError(req.MemberID, kerr.InconsistentGroupProtocol))
			return
		}
		g.consumer = nil // an empty consumer group becomes classic
	}
	if !g.supportsLocked(req.ProtocolType, req.Protocols) {
		respond(joinError(req.MemberID, kerr.InconsistentGroupProtocol))
		return
	}
	m := &member{
		id:               req.MemberID,
		instanceID:       req.InstanceID,
		clientID:         clientID,
		clientHost:       clientHost,
		sessionTimeout:   session,
		rebalanceTimeout: ms(req.RebalanceTimeoutMillis),
		protocolType:     req.ProtocolType,
		protocols:        copyProtocols(req.Protocols),
	}
	if req.Version == 0 {
		m.rebalanceTimeout = session
	}
	if req.MemberID == "" {
		g.joinNewLocked(m, req.Version, respond)
	} else {
		g.joinKnownLocked(m, respond)
	}
}

// supportsLocked reports whether a member with these protocols may join:
// an empty group takes any; otherwise the protocol type must match and
// one protocol must be supported by every member.
func (g *group) supportsLocked(protocolType string, protocols []kmsg.JoinGroupRequestProtocol) bool {
	if len(g.members) == 0 {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		all := true
		for _, m := range g.members {
			if m.metadata(p.Name) == nil {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// joinNewLocked handles a join without a member id.
func (g *group) joinNewLocked(m *member, version int16, respond func(*kmsg.JoinGroupResponse)) {
	m.id = newMemberID(m)
	if m.isStatic() {
		if oldID, ok := g.static[*m.instanceID]; ok {
			g.replaceStaticLocked(g.members[oldID], m, version, respond)
			return
		}
		g.addMemberLocked(m, respond)
		return
	}
	if version >= 4 {
		// KIP-394: the member must come back with this id, so that a
		// client that never sees the answer leaves no member behind.
		id := m.id
		g.pending[id] = g.c.clock.AfterFunc(m.sessionTimeout, func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if _, ok := g.pending[id]; ok && g.state != stateDead {
				delete(g.pending, id)
				g.tryCompleteJoinLocked()
			}
		})
		respond(joinError(id, kerr.MemberIDRequired))
		return
	}
	g.addMemberLocked(m, respond)
}

// joinKnownLocked handles a join with a member id.
func (g *group) joinKnownLocked(m *member, respond func(*kmsg.JoinGroupResponse)) {
	if stop, ok := g.pending[m.id]; ok && !m.isStatic() {
		stop()
		delete(g.pending, m.id)
		g.addMemberLocked(m, respond)
		return
	}
	if m.isStatic() {
		if id, ok := g.static[*m.instanceID]; ok && id != m.id {
			respond(joinError(m.id, kerr.FencedInstanceID))
			return
		}
	}
	old := g.members[m.id]
	if old == nil {
		respond(joinError(m.id, kerr.UnknownMemberID))
		return
	}
	switch g.state {
	case statePreparingRebalance:
		g.updateMemberLocked(old, m, respond)
		g.tryCompleteJoinLocked()
	case stateCompletingRebalance:
		if sameProtocols(old.protocols, m.protocols) {
			// A retry of a join whose answer was lost: answer again.
			respond(g.joinResponseLocked(old))
			return
		}
		g.updateMemberLocked(old, m, respond)
		g.prepareRebalanceLocked("member " + m.id + " joined again with new metadata")
	case stateStable:
		if m.id != g.leader && sameProtocols(old.protocols, m.protocols) {
			respond(g.joinResponseLocked(old))
			return
		}
		g.updateMemberLocked(old, m, respond)
		g.prepareRebalanceLocked("member " + m.id + " joined again")
	default:
		respond(joinError(m.id, kerr.UnknownMemberID))
	}
}

// updateMemberLocked takes a rejoining member's new settings and makes it
// wait in JoinGroup.
func (g *group) updateMemberLocked(old, m *member, respond func(*kmsg.JoinGroupResponse)) {
	if old.joinWait != nil {
		old.joinWait(joinError(old.id, kerr.RebalanceInProgress)) // superseded
	}
	old.clientID, old.clientHost = m.clientID, m.clientHost
	old.sessionTimeout, old.rebalanceTimeout = m.sessionTimeout, m.rebalanceTimeout
	old.protocols = m.protocols
	old.joinWait = respond
	old.lastHeartbeat = g.c.clock.Now()
}

// addMemberLocked adds a new member that waits in JoinGroup and starts a
// rebalance (or counts it towards the one in progress).
func (g *group) addMemberLocked(m *member, respond func(*kmsg.JoinGroupResponse)) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	m.joinWait = respond
	m.lastHeartbeat = g.c.clock.Now()
	g.members[m.id] = m
	if m.isStatic() {
		g.static[*m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
	if g.initialDelay {
		g.newMemberAdded = true
	}
	g.scheduleSessionLocked(m, m.sessionTimeout)
	g.maybePrepareRebalanceLocked("member " + m.id + " joined")
}

// replaceStaticLocked gives a static member's place to a new member id
// (the same instance restarted). In a Stable group whose chosen protocol
// stays the same this needs no rebalance: the member gets the current
// generation and, with SyncGroup, its old assignment.
func (g *group) replaceStaticLocked(old, m *member, version int16, respond func(*kmsg.JoinGroupResponse)) {
	if old.joinWait != nil {
		old.joinWait(joinError(old.id, kerr.FencedInstanceID))
	}
	if old.syncWait != nil {
		old.syncWait(syncError(kerr.FencedInstanceID))
	}
	if old.session != nil {
		old.session()
	}
	oldLeader := g.leader
	m.assignment = old.assignment
	m.lastHeartbeat = g.c.clock.Now()
	delete(g.members, old.id)
	g.members[m.id] = m
	g.static[*m.instanceID] = m.id
	if g.leader == old.id {
		g.leader = m.id
	}
	if g.pendingSync[old.id] {
		delete(g.pendingSync, old.id)
		g.pendingSync[m.id] = true
	}
	g.scheduleSessionLocked(m, m.sessionTimeout)
	// As Kafka: no rebalance unless the protocol the group would choose
	// now differs (the member's metadata may differ: a cooperative
	// consumer's restart owns nothing yet, and gets its old assignment).
	unchanged := g.protocol != "" && g.selectProtocolLocked() == g.protocol
	g.c.logger.Info("static member rejoined", "group", g.name, "instance", *m.instanceID, "old", old.id, "new", m.id, "rebalance", !(unchanged && g.state == stateStable))
	switch {
	case g.state == stateStable && unchanged:
		g.persistLocked()
		// A Stable group ignores a new plan, so a rejoining leader must
		// not compute one: from v9 it is told to skip the assignment but
		// learns the members, to watch their subscriptions (KIP-814);
		// before, the answer names the old leader id, so the member does
		// not take itself for the leader.
		resp := g.joinResponseLocked(m)
		if version >= 9 && m.id == g.leader {
			resp.SkipAssignment = true
		} else {
			resp.Members = nil
			if version < 9 {
				resp.LeaderID = oldLeader
			}
		}
		respond(resp)
	case g.state == statePreparingRebalance:
		m.joinWait = respond
		g.tryCompleteJoinLocked()
	default:
		m.joinWait = respond
		g.prepareRebalanceLocked("static member " + *m.instanceID + " rejoined")
	}
}

// joinResponseLocked is the answer for m in the current generation; the
// leader gets every member's metadata.
func (g *group) joinResponseLocked(m *member) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Generation = g.generation
	resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	resp.Protocol = kmsg.StringPtr(g.protocol)
	resp.LeaderID = g.leader
	resp.MemberID = m.id
	if m.id == g.leader {
		for _, o := range g.sortedMembersLocked() {
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID = o.id
			jm.InstanceID = o.instanceID
			jm.ProtocolMetadata = o.metadata(g.protocol)
			resp.Members = append(resp.Members, jm)
		}
	}
	return resp
}

// maybePrepareRebalanceLocked starts a rebalance unless one is in
// progress, whose completion it then tries.
func (g *group) maybePrepareRebalanceLocked(reason string) {
	switch g.state {
	case stateEmpty, stateStable, stateCompletingRebalance:
		g.prepareRebalanceLocked(reason)
	case statePreparingRebalance:
		g.tryCompleteJoinLocked()
	}
}

// prepareRebalanceLocked moves the group to PreparingRebalance: members
// waiting in SyncGroup are told REBALANCE_IN_PROGRESS, and the join phase
// ends when every member has joined, or after the initial delay (empty
// group) or the largest rebalance timeout.
func (g *group) prepareRebalanceLocked(reason string) {
	if g.state == stateCompletingRebalance {
		for _, m := range g.members {
			m.assignment = nil
			if m.syncWait != nil {
				m.syncWait(syncError(kerr.RebalanceInProgress))
				m.syncWait = nil
			}
		}
	}
	if g.syncTimer != nil {
		g.syncTimer()
		g.syncTimer = nil
	}
	g.pendingSync = nil
	wasEmpty := g.state == stateEmpty
	g.setStateLocked(statePreparingRebalance)
	g.c.logger.Info("preparing to rebalance group", "group", g.name, "generation", g.generation, "members", len(g.members), "reason", reason)
	rebalance := g.maxRebalanceTimeoutLocked()
	if wasEmpty && g.c.cfg.InitialRebalanceDelay > 0 {
		g.initialDelay, g.newMemberAdded = true, false
		delay := min(g.c.cfg.InitialRebalanceDelay, rebalance)
		g.startJoinTimerLocked(delay, func() { g.initialDelayEndedLocked(rebalance - delay) })
		return
	}
	g.startJoinTimerLocked(rebalance, g.completeJoinLocked)
	g.tryCompleteJoinLocked()
}

// initialDelayEndedLocked waits another delay while members keep joining,
// up to the rebalance timeout, then ends the join phase as usual.
func (g *group) initialDelayEndedLocked(remaining time.Duration) {
	if g.newMemberAdded && remaining > 0 {
		g.newMemberAdded = false
		delay := min(g.c.cfg.InitialRebalanceDelay, remaining)
		g.startJoinTimerLocked(delay, func() { g.initialDelayEndedLocked(remaining - delay) })
		return
	}
	g.initialDelay = false
	if g.allJoinedLocked() {
		g.completeJoinLocked()
		return
	}
	g.startJoinTimerLocked(max(remaining, 0), g.completeJoinLocked)
}

func (g *group) maxRebalanceTimeoutLocked() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// startJoinTimerLocked replaces the join phase's timer; fn runs with g.mu
// held unless the timer was replaced or stopped meanwhile.
func (g *group) startJoinTimerLocked(d time.Duration, fn func()) {
	g.stopJoinTimerLocked()
	epoch := g.joinEpoch
	g.joinTimer = g.c.clock.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.joinEpoch == epoch && g.state == statePreparingRebalance {
			fn()
		}
	})
}

func (g *group) stopJoinTimerLocked() {
	g.joinEpoch++
	if g.joinTimer != nil {
		g.joinTimer()
		g.joinTimer = nil
	}
}

func (g *group) allJoinedLocked() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.members {
		if m.joinWait == nil {
			return false
		}
	}
	return true
}

// tryCompleteJoinLocked ends the join phase early when every member has
// joined (never during the initial delay).
func (g *group) tryCompleteJoinLocked() {
	if g.state == statePreparingRebalance && !g.initialDelay && g.allJoinedLocked() {
		g.completeJoinLocked()
	}
}

// completeJoinLocked ends the join phase: dynamic members that did not
// join are removed, the generation advances, and every member that joined
// gets its answer (the leader with everyone's metadata). Members then
// have a rebalance timeout to send SyncGroup.
func (g *group) completeJoinLocked() {
	g.stopJoinTimerLocked()
	g.initialDelay = false
	for _, m := range g.sortedMembersLocked() {
		if m.joinWait == nil && !m.isStatic() {
			g.c.logger.Info("removing member that did not join the rebalance in time", "group", g.name, "member", m.id)
			g.removeMemberLocked(m, kerr.UnknownMemberID)
		}
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.setStateLocked(stateEmpty)
		g.c.logger.Info("group is empty", "group", g.name, "generation", g.generation)
		g.persistLocked()
		return
	}
	g.protocol = g.selectProtocolLocked()
	if l := g.members[g.leader]; l == nil || l.joinWait == nil {
		// The leader must be a member that joined (it is answered now);
		// static members that did not rejoin cannot lead.
		g.leader = g.sortedMembersLocked()[0].id
		for _, m := range g.sortedMembersLocked() {
			if m.joinWait != nil {
				g.leader = m.id
				break
			}
		}
	}
	g.setStateLocked(stateCompletingRebalance)
	g.c.logger.Info("group rebalanced", "group", g.name, "generation", g.generation, "protocol", g.protocol, "leader", g.leader, "members", len(g.members))
	now := g.c.clock.Now()
	g.pendingSync = map[string]bool{}
	for _, m := range g.members {
		g.pendingSync[m.id] = true
		if m.joinWait != nil {
			m.joinWait(g.joinResponseLocked(m))
			m.joinWait = nil
			m.lastHeartbeat = now
		}
	}
	gen := g.generation
	g.syncTimer = g.c.clock.AfterFunc(g.maxRebalanceTimeoutLocked(), func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.generation != gen || (g.state != stateCompletingRebalance && g.state != stateStable) || len(g.pendingSync) == 0 {
			return
		}
		for id := range g.pendingSync {
			if m := g.members[id]; m != nil {
				g.c.logger.Info("removing member that did not sync in time", "group", g.name, "member", id)
				g.removeMemberLocked(m, kerr.UnknownMemberID)
			}
		}
		g.prepareRebalanceLocked("members did not send SyncGroup in time")
	})
}

// selectProtocolLocked picks the protocol every member supports that most
// members list first, ties broken by the leader's order.
func (g *group) selectProtocolLocked() string {
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if g.supportedByAllLocked(p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	order := g.sortedMembersLocked()[0].protocols
	if l := g.members[g.leader]; l != nil {
		order = l.protocols
	}
	best, bestVotes := "", -1
	for _, p := range order {
		if v, ok := votes[p.Name]; ok && v > bestVotes {
			best, bestVotes = p.Name, v
		}
	}
	return best
}

func (g *group) supportedByAllLocked(protocol string) bool {
	for _, m := range g.members {
		if m.metadata(protocol) == nil {
			return false
		}
	}
	return true
}

// removeMemberLocked takes m out of the group; a join or sync it is
// waiting in is answered with err. The caller decides about rebalancing.
func (g *group) removeMemberLocked(m *member, err *kerr.Error) {
	if m.session != nil {
		m.session()
	}
	if m.joinWait != nil {
		m.joinWait(joinError(m.id, err))
		m.joinWait = nil
	}
	if m.syncWait != nil {
		m.syncWait(syncError(err))
		m.syncWait = nil
	}
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.isStatic() && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		for _, o := range g.sortedMembersLocked() {
			g.leader = o.id
			break
		}
	}
}

// scheduleSessionLocked (re)arms m's session timer to check after d.
func (g *group) scheduleSessionLocked(m *member, d time.Duration) {
	if m.session != nil {
		m.session()
	}
	m.session = g.c.clock.AfterFunc(d, func() { g.checkSession(m) })
}

// checkSession removes m if its session expired; members waiting in
// JoinGroup or SyncGroup are kept (the rebalance timeout covers them).
func (g *group) checkSession(m *member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.members[m.id] != m || g.state == stateDead || g.c.closed.Load() {
		return
	}
	if m.joinWait != nil || m.syncWait != nil {
		g.scheduleSessionLocked(m, m.sessionTimeout)
		return
	}
	if left := m.lastHeartbeat.Add(m.sessionTimeout).Sub(g.c.clock.Now()); left > 0 {
		g.scheduleSessionLocked(m, left)
		return
	}
	g.c.logger.Info("member session expired", "group", g.name, "member", m.id, "session.timeout", m.sessionTimeout)
	g.removeMemberLocked(m, kerr.UnknownMemberID)
	g.maybePrepareRebalanceLocked("member " + m.id + " session expired")
}

// SyncGroup handles a SyncGroup request; respond is called exactly once
// (for members other than the leader, once the leader's assignment is
// durable).
func (c *Coordinator) SyncGroup(req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse)) {
	if req.Group == "" {
		respond(syncError(kerr.InvalidGroupID))
		return
	}
	found, err := c.withGroup(req.Group, func(g *group) { c.syncLocked(g, req, respond) })
	switch {
	case err != nil:
		respond(syncError(err))
	case !found:
		respond(syncError(kerr.UnknownMemberID))
	}
}

// syncLocked handles a checked SyncGroup request for g.
func (c *Coordinator) syncLocked(g *group, req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse)) {
	m, err := g.memberLocked(req.MemberID, req.InstanceID, req.Generation)
	if err != nil {
		respond(syncError(err))
		return
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		respond(syncError(kerr.InconsistentGroupProtocol))
		return
	}
	m.lastHeartbeat = c.clock.Now()
	switch g.state {
	case statePreparingRebalance:
		respond(syncError(kerr.RebalanceInProgress))
	case stateStable:
		delete(g.pendingSync, m.id)
		respond(g.syncResponseLocked(m))
	case stateCompletingRebalance:
		delete(g.pendingSync, m.id)
		if m.syncWait != nil {
			m.syncWait(syncError(kerr.RebalanceInProgress)) // superseded
		}
		m.syncWait = respond
		if m.id == g.leader {
			g.assignLocked(req.GroupAssignment)
		}
	default:
		respond(syncError(kerr.UnknownMemberID))
	}
}

// assignLocked stores the leader's assignment: once it is durable the
// group is Stable and every member waiting in SyncGroup gets its part.
func (g *group) assignLocked(assignments []kmsg.SyncGroupRequestGroupAssignment) {
	for _, m := range g.members {
		m.assignment = []byte{}
	}
	for _, a := range assignments {
		if m := g.members[a.MemberID]; m != nil {
			m.assignment = bytes.Clone(a.MemberAssignment)
			if m.assignment == nil {
				m.assignment = []byte{}
			}
		}
	}
	gen := g.generation
	g.appendLocked([]segment.KeyValue{{Key: groupKey(g.name), Value: g.metadataValueLocked()}}, func(err error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.generation != gen || g.state != stateCompletingRebalance {
			return // a rebalance started meanwhile; members were told
		}
		if err != nil {
			g.c.logger.Error("storing group assignment failed", "group", g.name, "generation", gen, "err", err)
			for _, m := range g.members {
				m.assignment = nil
				if m.syncWait != nil {
					m.syncWait(syncError(kerr.CoordinatorNotAvailable))
					m.syncWait = nil
				}
			}
			g.prepareRebalanceLocked("storing the assignment failed")
			return
		}
		g.setStateLocked(stateStable)
		for _, m := range g.members {
			if m.syncWait != nil {
				m.syncWait(g.syncResponseLocked(m))
				m.syncWait = nil
			}
		}
	})
}

func (g *group) syncResponseLocked(m *member) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	resp.Protocol = kmsg.StringPtr(g.protocol)
	resp.MemberAssignment = m.assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp
}

// memberLocked finds the member a SyncGroup, Heartbeat or commit comes
// from: UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID (another member has the
// instance id) or ILLEGAL_GENERATION.
func (g *group) memberLocked(id string, instanceID *string, generation int32) (*member, *kerr.Error) {
	if instanceID != nil {
		if owner, ok := g.static[*instanceID]; ok && owner != id {
			return nil, kerr.FencedInstanceID
		}
	}
	m := g.members[id]
	if m == nil {
		return nil, kerr.UnknownMemberID
	}
	if generation != g.generation {
		return nil, kerr.IllegalGeneration
	}
	return m, nil
}

// Heartbeat handles a Heartbeat request.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kerr.Error {
	if req.Group == "" {
		return kerr.InvalidGroupID
	}
	err := kerr.UnknownMemberID
	if _, notServed := c.withGroup(req.Group, func(g *group) { err = c.heartbeatLocked(g, req) }); notServed != nil {
		return notServed
	}
	return err
}

// heartbeatLocked handles a checked Heartbeat request for g.
func (c *Coordinator) heartbeatLocked(g *group, req *kmsg.HeartbeatRequest) *kerr.Error {
	m, err := g.memberLocked(req.MemberID, req.InstanceID, req.Generation)
	if err != nil {
		return err
	}
	m.lastHeartbeat = c.clock.Now()
	if g.state == statePreparingRebalance {
		return kerr.RebalanceInProgress
	}
	return nil
}

// Leaving is one member leaving a group: by member id, or by instance id
// (then a member id, if given, must match).
type Leaving struct {
	MemberID   string
	InstanceID *string
}

// LeaveGroup removes members from a group and starts a rebalance; it
// returns an error per member (nil: left). The whole call fails with
// NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS for a group not served
// (see table) and INVALID_GROUP_ID for an empty group id.
func (c *Coordinator) LeaveGroup(name string, leaving []Leaving) ([]*kerr.Error, *kerr.Error) {
	if name == "" {
		return nil, kerr.InvalidGroupID
	}
	var errs []*kerr.Error
	found, err := c.withGroup(name, func(g *group) { errs = g.leaveLocked(leaving) })
	if err != nil {
		return nil, err
	}
	if !found {
		errs = make([]*kerr.Error, len(leaving))
		for i := range errs {
			errs[i] = kerr.UnknownMemberID
		}
	}
	return errs, nil
}

// leaveLocked removes the leaving members from g and starts a rebalance
// if any left; it returns an error per member (nil: left).
func (g *group) leaveLocked(leaving []Leaving) []*kerr.Error {
	errs := make([]*kerr.Error, len(leaving))
	left := false
	for i, l := range leaving {
		id := l.MemberID
		if l.InstanceID != nil {
			owner, ok := g.static[*l.InstanceID]
			switch {
			case !ok:
				errs[i] = kerr.UnknownMemberID
				continue
			case id != "" && id != owner:
				errs[i] = kerr.FencedInstanceID
				continue
			}
			id = owner
		}
		if stop, ok := g.pending[id]; ok {
			stop()
			delete(g.pending, id)
			g.tryCompleteJoinLocked()
			continue
		}
		m := g.members[id]
		if m == nil {
			errs[i] = kerr.UnknownMemberID
			continue
		}
		g.c.logger.Info("member left group", "group", g.name, "member", id)
		g.removeMemberLocked(m, kerr.UnknownMemberID)
		left = true
	}
	if left {
		g.maybePrepareRebalanceLocked("members left")
	}
	return errs
}

// persistLocked writes the group's metadata (after a change that needs no
// answer: the group became empty, a static member was replaced); a
// failure is logged (the record before it stays in force after a restart).
func (g *group) persistLocked() {
	g.appendLocked([]segment.KeyValue{{Key: groupKey(g.name), Value: g.metadataValueLocked()}}, func(err error) {
		if err != nil {
			g.c.logger.Error("storing group metadata failed", "group", g.name, "err", err)
		}
	})
}

// shutdownLocked stops the group's timers and answers its waiting
// members with NOT_COORDINATOR (the coordinator is closing).
func (g *group) shutdownLocked() {
	g.stopJoinTimerLocked()
	if g.syncTimer != nil {
		g.syncTimer()
	}
	for _, stop := range g.pending {
		stop()
	}
	if g.consumer != nil {
		for _, m := range g.consumer.members {
			if m.session != nil {
				m.session()
			}
		}
	}
	for _, m := range g.members {
		if m.session != nil {
			m.session()
		}
		if m.joinWait != nil {
			m.joinWait(joinError(m.id, kerr.NotCoordinator))
			m.joinWait = nil
		}
		if m.syncWait != nil {
			m.syncWait(syncError(kerr.NotCoordinator))
			m.syncWait = nil
		}
	}
}

// replayLocked applies a record read at startup (not a group tombstone:
// the coordinator drops the group).
func (g *group) replayLocked(r Record) {
	if r.IsOffset {
		tp := topicPartition{r.Topic, r.Partition}
		if r.Offset == nil {
			delete(g.offsets, tp)
			return
		}
		epoch := r.Offset.LeaderEpoch
		if r.Offset.Version < 3 {
			epoch = -1 // not recorded before v3
		}
		g.offsets[tp] = offset{
			offset:      r.Offset.Offset,
			leaderEpoch: epoch,
			metadata:    r.Offset.Metadata,
			committed:   time.UnixMilli(r.Offset.CommitTimestamp),
		}
		return
	}
	g.members, g.static = map[string]*member{}, map[string]string{}
	v := r.Metadata
	g.protocolType, g.generation = v.ProtocolType, v.Generation
	g.protocol, g.leader = "", ""
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	if v.CurrentStateTimestamp >= 0 {
		g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
	}
	for _, vm := range v.Members {
		m := &member{
			id:               vm.MemberID,
			instanceID:       vm.InstanceID,
			clientID:         vm.ClientID,
			clientHost:       vm.ClientHost,
			sessionTimeout:   ms(vm.SessionTimeoutMillis),
			rebalanceTimeout: ms(vm.RebalanceTimeoutMillis),
			protocolType:     v.ProtocolType,
			protocols:        []kmsg.JoinGroupRequestProtocol{{Name: g.protocol, Metadata: vm.Subscription}},
			assignment:       vm.Assignment,
		}
		if vm.RebalanceTimeoutMillis < 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		g.members[m.id] = m
		if m.isStatic() {
			g.static[*m.instanceID] = m.id
		}
	}
}

// loadedLocked sets a replayed group going: Stable with its members (who
// must heartbeat within their session timeout), or Empty.
func (g *group) loadedLocked() {
	if len(g.members) == 0 {
		g.state = stateEmpty
		return
	}
	g.state = stateStable
	now := g.c.clock.Now()
	for _, m := range g.members {
		m.lastHeartbeat = now
		g.scheduleSessionLocked(m, m.sessionTimeout)
	}
}

package controller

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
)

// RegisterBroker registers a broker (KIP-631), as Kafka's
// ClusterControlManager.registerBroker: a cluster id other than Config's is
// INCONSISTENT_CLUSTER_ID; a node id whose registration still has a live
// session under another incarnation is DUPLICATE_BROKER_REGISTRATION
// (unless the request's PreviousBrokerEpoch is that registration's: the
// same broker restarted cleanly); listeners the image refuses (none, a name
// twice, no host) are INVALID_REGISTRATION. Every registration gets
// a new broker epoch, above every epoch written before it, and starts
// fenced; it is unfenced by a heartbeat once the broker has caught up. A
// new incarnation's partitions lose the old one's leaderships and ISR
// places as on fencing.
func (c *Controller) RegisterBroker(ctx context.Context, req *kmsg.BrokerRegistrationRequest) *kmsg.BrokerRegistrationResponse {
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	errs := c.operate(ctx, 1, false, func(img *metadata.Image, _ int) ([]metadata.Record, error) {
		if c.cfg.ClusterID != "" && req.ClusterID != c.cfg.ClusterID {
			return nil, placementErr(kerr.InconsistentClusterID, "Expected cluster ID %s, but got cluster ID %s.", c.cfg.ClusterID, req.ClusterID)
		}
		now := c.clock()
		old, exists := img.Broker(req.BrokerID)
		if exists && old.IncarnationID != metadata.UUID(req.IncarnationID) && !c.expired(req.BrokerID, now) && req.PreviousBrokerEpoch != old.Epoch {
			return nil, placementErr(kerr.DuplicateBrokerRegistration, "Another broker is registered with that broker id.")
		}
		rec := &metadata.RegisterBrokerRecord{NodeID: req.BrokerID, IncarnationID: req.IncarnationID, Rack: "", Fenced: true}
		if req.Rack != nil {
			rec.Rack = *req.Rack
		}
		for _, l := range req.Listeners {
			rec.Listeners = append(rec.Listeners, metadata.Listener{Name: l.Name, Host: l.Host, Port: l.Port, SecurityProtocol: l.SecurityProtocol})
		}
		c.sm.Lock()
		rec.BrokerEpoch = int64(c.sm.appliedIndex) + 1
		c.sm.Unlock()
		if exists {
			rec.BrokerEpoch = max(rec.BrokerEpoch, old.Epoch+1)
		}
		var records []metadata.Record
		if exists {
			records = c.leaveRecords(img, req.BrokerID)
			delete(c.shutdowns, req.BrokerID)
		}
		records = append(records, rec)
		if _, err := img.ApplyAll(records); err != nil {
			return nil, placementErr(kerr.InvalidRegistration, "%v", err)
		}
		c.contacts[req.BrokerID] = now
		resp.BrokerEpoch = rec.BrokerEpoch
		return records, nil
	})
	if resp.ErrorCode, _ = errorCode(errs[0]); resp.ErrorCode != 0 {
		resp.BrokerEpoch = -1
	}
	return resp
}

// BrokerHeartbeat answers a registered broker's heartbeat, as Kafka's
// BrokerHeartbeatManager: it renews the broker's session; an unknown broker
// is BROKER_ID_NOT_REGISTERED, an epoch other than the registered one
// STALE_BROKER_EPOCH. A broker is caught up once its
// CurrentMetadataOffset has reached the offset of its registration; a
// fenced broker that is caught up and does not want to be fenced is
// unfenced (and leads the partitions left without a leader whose ISR holds
// it); an unfenced broker that wants to be fenced is fenced, its
// leaderships moved to other ISR members. One that wants to shut down
// goes through the controlled shutdown (controlledShutdown). The answer
// comes once any such change is committed and applied here.
func (c *Controller) BrokerHeartbeat(ctx context.Context, req *kmsg.BrokerHeartbeatRequest) *kmsg.BrokerHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	errs := c.operate(ctx, 1, false, func(img *metadata.Image, _ int) ([]metadata.Record, error) {
		b, ok := img.Broker(req.BrokerID)
		if !ok {
			return nil, placementErr(kerr.BrokerIDNotRegistered, "Broker %d is not registered.", req.BrokerID)
		}
		if b.Epoch != req.BrokerEpoch {
			return nil, placementErr(kerr.StaleBrokerEpoch, "Expected broker epoch %d, but got broker epoch %d.", b.Epoch, req.BrokerEpoch)
		}
		c.contacts[req.BrokerID] = c.clock()
		c.reported[req.BrokerID] = req.CurrentMetadataOffset
		c.sm.Lock()
		registered := c.sm.registered[req.BrokerID]
		c.sm.Unlock()
		resp.IsCaughtUp = req.CurrentMetadataOffset >= int64(registered)-1
		resp.IsFenced = b.Fenced
		switch {
		case req.WantShutdown && b.Fenced:
			resp.ShouldShutdown = true
		case req.WantShutdown:
			records, done := c.controlledShutdown(img, b)
			resp.ShouldShutdown, resp.IsFenced = done, done
			return records, nil
		case b.Fenced && resp.IsCaughtUp && !req.WantFence:
			resp.IsFenced = false
			return append([]metadata.Record{&metadata.UnfenceBrokerRecord{NodeID: b.NodeID, BrokerEpoch: b.Epoch}},
				c.leadRecords(img, b.NodeID)...), nil
		case !b.Fenced && req.WantFence:
			resp.IsFenced = true
			return c.fenceRecords(img, b), nil
		}
		return nil, nil
	})
	if resp.ErrorCode, _ = errorCode(errs[0]); resp.ErrorCode != 0 {
		resp.IsCaughtUp, resp.IsFenced, resp.ShouldShutdown = false, true, false
	}
	return resp
}

// controlledShutdown is one heartbeat of unfenced broker b that wants to
// shut down, as KRaft's controlled shutdown: b stays unfenced (it still
// serves as a follower) but is in controlled shutdown, so it may not lead
// or join an ISR; each heartbeat moves the leaderships it still holds to
// other unfenced ISR members (leaving a partition without one to no
// leader, or to an unclean leader where allowed) and takes it out of every
// ISR with another member. Once a heartbeat finds nothing left to move, the
// metadata offset applied then is the shutdown offset; the broker may go
// (done: it is fenced, and ShouldShutDown answered) once every unfenced
// broker not shutting down, and b itself, has reported that offset in a
// heartbeat: they all serve the new leaders. Called with c.mu held.
func (c *Controller) controlledShutdown(img *metadata.Image, b metadata.Broker) (records []metadata.Record, done bool) {
	target, started := c.shutdowns[b.NodeID]
	if !started {
		target = -1
		c.shutdowns[b.NodeID] = target
		c.logger.Info("controller: broker in controlled shutdown", "broker", b.NodeID)
	}
	if moves := c.leaveRecords(img, b.NodeID); len(moves) > 0 {
		c.shutdowns[b.NodeID] = -1
		return moves, false
	}
	if target < 0 {
		target = c.AppliedOffset()
		c.shutdowns[b.NodeID] = target
	}
	for _, other := range img.LiveBrokers() {
		if other.NodeID != b.NodeID && c.shuttingDown(other.NodeID) {
			continue
		}
		if reported, ok := c.reported[other.NodeID]; !ok || reported < target {
			return nil, false
		}
	}
	return c.fenceRecords(img, b), true
}

// expired reports whether broker id's session has expired at now: no
// heartbeat or registration for the session timeout since this controller
// became active. Called with c.mu held.
func (c *Controller) expired(id int32, now time.Time) bool {
	last := c.contacts[id]
	if last.Before(c.since) {
		last = c.since
	}
	return now.Sub(last) > c.cfg.SessionTimeout
}

// checkSessions fences, every SessionCheckInterval while this member is the
// active controller, the unfenced brokers whose sessions expired (and
// samples the voters' progress for DescribeQuorum); with
// Rebalance.Enable it rebalances leaders every Rebalance.CheckInterval.
func (c *Controller) checkSessions() {
	defer close(c.done)
	ticker := time.NewTicker(c.cfg.SessionCheckInterval)
	defer ticker.Stop()
	var rebalance <-chan time.Time
	if c.cfg.Rebalance.Enable {
		t := time.NewTicker(c.cfg.Rebalance.CheckInterval)
		defer t.Stop()
		rebalance = t.C
	}
	for {
		select {
		case <-c.stop:
			return
		case <-ticker.C:
			c.sampleVoters()
			if c.Active() {
				c.fenceExpired()
			}
		case <-rebalance:
			if c.Active() {
				c.rebalanceLeaders()
			}
		}
	}
}

// fenceExpired fences the brokers whose sessions expired, in one entry.
func (c *Controller) fenceExpired() {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.SessionTimeout)
	defer cancel()
	var fenced []int32
	errs := c.operate(ctx, 1, false, func(img *metadata.Image, _ int) ([]metadata.Record, error) {
		now := c.clock()
		var records []metadata.Record
		for _, b := range img.LiveBrokers() {
			if !c.expired(b.NodeID, now) {
				continue
			}
			// Each broker's changes are computed on the image the previous
			// ones left (partition epochs).
			next := c.fenceRecords(img, b)
			var err error
			if img, err = img.ApplyAll(next); err != nil {
				return nil, err
			}
			records = append(records, next...)
			fenced = append(fenced, b.NodeID)
		}
		return records, nil
	})
	if len(fenced) > 0 {
		if errs[0] != nil {
			c.logger.Warn("controller: fencing brokers whose sessions expired failed", "brokers", fenced, "err", errs[0])
		} else {
			c.logger.Info("controller: fenced brokers whose sessions expired", "brokers", fenced, "timeout", c.cfg.SessionTimeout)
		}
	}
}

// fenceRecords fences b and moves its leaderships and ISR places off it.
// Called with c.mu held.
func (c *Controller) fenceRecords(img *metadata.Image, b metadata.Broker) []metadata.Record {
	delete(c.shutdowns, b.NodeID)
	return append([]metadata.Record{&metadata.FenceBrokerRecord{NodeID: b.NodeID, BrokerEpoch: b.Epoch}}, c.leaveRecords(img, b.NodeID)...)
}

// leaveRecords returns the partition changes for broker id leaving
// service, as Kafka's handleBrokerFenced: it leaves every ISR that has
// another member (the last member stays, so the partition can come back
// with its data when the broker does), and each partition it leads is led
// by the first other ISR member that is available (ElectLeader), or, where
// none is, by an unclean leader if the topic allows it (electLeader), else
// by nobody (NoLeader). Called with c.mu held.
func (c *Controller) leaveRecords(img *metadata.Image, id int32) []metadata.Record {
	unavailable := c.unavailable(img)
	gone := func(x int32) bool { return x == id || unavailable(x) }
	var out []metadata.Record
	for t := range img.Topics() {
		for p := range t.Partitions() {
			if !slices.Contains(p.ISR, id) {
				continue
			}
			change := &metadata.PartitionChangeRecord{TopicID: t.ID(), Partition: p.Partition, Leader: metadata.LeaderUnchanged,
				LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch + 1}
			isr := p.ISR
			if len(p.ISR) > 1 {
				isr = slices.DeleteFunc(slices.Clone(p.ISR), func(x int32) bool { return x == id })
				change.ISR = isr
			}
			if p.Leader == id {
				leader, newISR := c.electLeader(img, t, p.Replicas, isr, gone)
				if leader != p.Leader {
					change.Leader, change.LeaderEpoch = leader, p.LeaderEpoch+1
				}
				if !slices.Equal(newISR, isr) {
					change.ISR = newISR
				}
			}
			if change.ISR != nil || change.Leader != metadata.LeaderUnchanged {
				out = append(out, change)
			}
		}
	}
	return out
}

// leadRecords returns the partition changes for broker id coming back
// (unfenced), as Kafka's handleBrokerUnfenced: every partition without a
// leader whose ISR holds it gets a leader again, elected as usual with id
// counted as available; where the topic allows unclean elections, so does
// every partition without a leader of which it is a replica. Called with
// c.mu held.
func (c *Controller) leadRecords(img *metadata.Image, id int32) []metadata.Record {
	unavailable := c.unavailable(img)
	down := func(x int32) bool { return x != id && unavailable(x) }
	var out []metadata.Record
	for t := range img.Topics() {
		for p := range t.Partitions() {
			if p.Leader != metadata.NoLeader || !slices.Contains(p.Replicas, id) {
				continue
			}
			if !slices.Contains(p.ISR, id) && !c.uncleanAllowed(img, t.Name()) {
				continue
			}
			if change := c.electionRecord(img, t, p, down); change != nil {
				out = append(out, change)
			}
		}
	}
	return out
}

// electionRecord elects a leader for partition p of t, which has none
// (electLeader), and returns the change, or nil when nobody can lead.
func (c *Controller) electionRecord(img *metadata.Image, t *metadata.Topic, p metadata.Partition, unavailable func(int32) bool) *metadata.PartitionChangeRecord {
	leader, isr := c.electLeader(img, t, p.Replicas, p.ISR, unavailable)
	if leader == metadata.NoLeader {
		return nil
	}
	return leaderChange(t, p, leader, isr)
}

// electLeader is the election of a partition of t with replicas and isr,
// as Kafka's PartitionChangeBuilder: the clean election (ElectLeader),
// and, when it finds nobody and t allows unclean elections
// (unclean.leader.election.enable), the unclean one (electUnclean). It
// returns the leader (NoLeader: none) and the ISR after the election.
func (c *Controller) electLeader(img *metadata.Image, t *metadata.Topic, replicas, isr []int32, unavailable func(int32) bool) (int32, []int32) {
	if leader := ElectLeader(replicas, isr, unavailable); leader != metadata.NoLeader || !c.uncleanAllowed(img, t.Name()) {
		return leader, isr
	}
	return c.electUnclean(t, replicas, isr, unavailable)
}

// electUnclean elects the first available replica of a partition of t
// whose ISR has no available member; it becomes the whole ISR (what it
// lacks of the old leader's log is lost). It returns NoLeader and isr when
// no replica is available.
func (c *Controller) electUnclean(t *metadata.Topic, replicas, isr []int32, unavailable func(int32) bool) (int32, []int32) {
	leader := ElectLeader(replicas, replicas, unavailable)
	if leader == metadata.NoLeader {
		return leader, isr
	}
	c.logger.Warn("controller: unclean leader election", "topic", t.Name(), "leader", leader, "isr", isr)
	return leader, []int32{leader}
}

// UncleanLeaderElectionKey is the topic config (and broker default, through
// Rules.Default) that allows unclean leader elections; false by default.
const UncleanLeaderElectionKey = "unclean.leader.election.enable"

// uncleanAllowed reports whether topic allows unclean leader elections:
// its own unclean.leader.election.enable, else the broker default.
func (c *Controller) uncleanAllowed(img *metadata.Image, topic string) bool {
	v, ok := img.Config(metadata.ConfigResource{Type: metadata.ResourceTopic, Name: topic}, UncleanLeaderElectionKey)
	if !ok && c.cfg.Rules.Default != nil {
		v = c.cfg.Rules.Default(UncleanLeaderElectionKey)
	}
	return strings.EqualFold(strings.TrimSpace(v), "true")
}

// unavailable returns whether a broker may not lead or join an ISR in img:
// not registered, fenced, or in controlled shutdown (Kafka's
// LeaderAcceptor). Called with c.mu held.
func (c *Controller) unavailable(img *metadata.Image) func(id int32) bool {
	fenced := fencedIn(img)
	return func(id int32) bool { return fenced(id) || c.shuttingDown(id) }
}

// shuttingDown reports whether broker id is in controlled shutdown. Called
// with c.mu held.
func (c *Controller) shuttingDown(id int32) bool {
	_, ok := c.shutdowns[id]
	return ok
}

package controller

import (
	"context"
	"slices"
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
			records = leaveRecords(img, req.BrokerID)
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
// it); an unfenced broker that wants to be fenced or to shut down is
// fenced, its leaderships moved to other ISR members. The answer comes
// once any such change is committed and applied here.
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
		c.sm.Lock()
		registered := c.sm.registered[req.BrokerID]
		c.sm.Unlock()
		resp.IsCaughtUp = req.CurrentMetadataOffset >= int64(registered)-1
		resp.IsFenced = b.Fenced
		resp.ShouldShutdown = req.WantShutdown
		switch {
		case b.Fenced && resp.IsCaughtUp && !req.WantFence && !req.WantShutdown:
			resp.IsFenced = false
			return append([]metadata.Record{&metadata.UnfenceBrokerRecord{NodeID: b.NodeID, BrokerEpoch: b.Epoch}},
				leadRecords(img, b.NodeID)...), nil
		case !b.Fenced && (req.WantFence || req.WantShutdown):
			resp.IsFenced = true
			return fenceRecords(img, b), nil
		}
		return nil, nil
	})
	if resp.ErrorCode, _ = errorCode(errs[0]); resp.ErrorCode != 0 {
		resp.IsCaughtUp, resp.IsFenced, resp.ShouldShutdown = false, true, false
	}
	return resp
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
// samples the voters' progress for DescribeQuorum).
func (c *Controller) checkSessions() {
	defer close(c.done)
	ticker := time.NewTicker(c.cfg.SessionCheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-ticker.C:
			c.sampleVoters()
			if c.Active() {
				c.fenceExpired()
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
			next := fenceRecords(img, b)
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
func fenceRecords(img *metadata.Image, b metadata.Broker) []metadata.Record {
	return append([]metadata.Record{&metadata.FenceBrokerRecord{NodeID: b.NodeID, BrokerEpoch: b.Epoch}}, leaveRecords(img, b.NodeID)...)
}

// leaveRecords returns the partition changes for broker id leaving
// service, as Kafka's handleBrokerFenced: it leaves every ISR that has
// another member (the last member stays, so the partition can come back
// with its data when the broker does), and each partition it leads is led
// by the first other ISR member that is not fenced (ElectLeader), or by
// nobody (NoLeader).
func leaveRecords(img *metadata.Image, id int32) []metadata.Record {
	isFenced := fencedIn(img)
	fenced := func(x int32) bool { return x == id || isFenced(x) }
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
				if leader := ElectLeader(p.Replicas, isr, fenced); leader != p.Leader {
					change.Leader, change.LeaderEpoch = leader, p.LeaderEpoch+1
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
// counted as unfenced.
func leadRecords(img *metadata.Image, id int32) []metadata.Record {
	isFenced := fencedIn(img)
	fenced := func(x int32) bool { return x != id && isFenced(x) }
	var out []metadata.Record
	for t := range img.Topics() {
		for p := range t.Partitions() {
			if p.Leader != metadata.NoLeader || !slices.Contains(p.ISR, id) {
				continue
			}
			if leader := ElectLeader(p.Replicas, p.ISR, fenced); leader != metadata.NoLeader {
				out = append(out, &metadata.PartitionChangeRecord{TopicID: t.ID(), Partition: p.Partition, Leader: leader,
					LeaderEpoch: p.LeaderEpoch + 1, PartitionEpoch: p.PartitionEpoch + 1})
			}
		}
	}
	return out
}

// shuttingDown reports whether broker id is in controlled shutdown. Called
// with c.mu held.
func (c *Controller) shuttingDown(id int32) bool {
	_, ok := c.shutdowns[id]
	return ok
}

package broker

// Replication (issue 13), the broker's side of package replica.
//
// Leader epochs: produce and the group coordinator stamp each batch with
// the partition's leader epoch in the metadata image (a replicated one's
// with its replica.Leader's), and ListOffsets, OffsetForLeaderEpoch and
// consumer fetches check a request's CurrentLeaderEpoch against it as
// Kafka's Partition.checkCurrentLeaderEpoch does (checkLeaderEpoch).
//
// Becoming leader or follower: after each image, applyImageLocked hands
// every local partition of each topic the image changed (one pass; a topic
// it left as it was is skipped whole) to replicateLocked, before the image
// is published to the handlers:
//
//   - one replica: today's path exactly, no replica.Leader (the high
//     watermark is the flushed offset under the durable policy, else the
//     log end);
//   - led here: a replica.Leader for each new leader epoch (its high
//     watermark starting at the log's), the partition no longer followed;
//     for the same epoch, the Leader is told the new ISR;
//   - led elsewhere: the Leader resigns (its acks=all waiters get
//     NOT_LEADER_OR_FOLLOWER, no append of it runs afterwards) and the
//     partition is followed (replica.Fetchers) from the leader's endpoint
//     on the client listener.
//
// Consumers of a replicated partition read up to the log's high watermark,
// which the Leader sets (fetch.go). Produce (produce.go) and the group
// coordinator's commits (groups.go) append through the Leader and wait for
// its high watermark (acks=all, min.insync.replicas).
//
// ISR changes (KIP-497): an isr loop asks every Leader, every half of
// replica.lag.time.max.ms, for the change due (replica.Leader.ProposeISR)
// and sends the changes of all partitions in one AlterPartition; a Leader
// whose follower caught up asks at once (ISRChangeWanted). The image that
// applies a change ends it (Leader.Update). A follower the controller
// refused (INELIGIBLE_REPLICA) is not proposed again for a while
// (isrRefusals).

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
	"runnel/broker/replica"
	"runnel/io/flush"
	"runnel/segment"
)

// leaderEpoch is partition p's leader epoch in the image's topic it; 0 for
// a topic the image does not hold (served from the local table before the
// first image).
func leaderEpoch(it *metadata.Topic, p int32) int32 {
	if it == nil {
		return 0
	}
	part, ok := it.Partition(p)
	if !ok {
		return 0
	}
	return part.LeaderEpoch
}

// checkLeaderEpoch compares a request's CurrentLeaderEpoch with the
// partition's (Kafka's Partition.checkCurrentLeaderEpoch): an older one is
// FENCED_LEADER_EPOCH (the client's metadata is stale), a newer one
// UNKNOWN_LEADER_EPOCH (this broker's is); -1 asks for no check.
func checkLeaderEpoch(it *metadata.Topic, p, requested int32) error {
	if requested == -1 {
		return nil
	}
	switch current := leaderEpoch(it, p); {
	case requested < current:
		return kerr.FencedLeaderEpoch
	case requested > current:
		return kerr.UnknownLeaderEpoch
	}
	return nil
}

// epochAt is the leader epoch that wrote offset, from the log's
// leader-epoch cache (-1: none known).
func epochAt(l *segment.Log, offset int64) int32 {
	epoch := int32(-1)
	for _, e := range l.LeaderEpochs() {
		if e.StartOffset > offset {
			break
		}
		epoch = e.Epoch
	}
	return epoch
}

// replication is the broker's replication state.
type replication struct {
	mu struct {
		sync.Mutex
		// wanted are the partitions whose Leader asked for an ISR
		// change since the isr loop last looked.
		wanted map[*partition]*replica.Leader
	}
	kick chan struct{} // one token: wanted is not empty
	// fetchers are the fetch loops of the partitions followed here;
	// flushers, each followed log's flusher (*segment.Log to
	// *flush.Flusher).
	fetchers *replica.Fetchers
	flushers sync.Map
	// refusals and refusedLog are the isr loop's own.
	refusals   isrRefusals
	refusedLog logLimiter
}

// ReplicaLagTimeMax's default, Kafka's replica.lag.time.max.ms.
const defaultReplicaLagTimeMax = 30 * time.Second

func init() {
	brokerKeys = append(brokerKeys,
		brokerKey{"replica.lag.time.max.ms", setMs(func(c *Config) *time.Duration { return &c.ReplicaLagTimeMax }, 1),
			func(c *Config) (string, bool) { return ms(c.ReplicaLagTimeMax), true }},
		topicDefault("min.insync.replicas", "min.insync.replicas", 1),
	)
}

// startReplication prepares the replication state; the isr loop runs
// until Close.
func (b *Broker) startReplication() {
	b.repl.mu.wanted = map[*partition]*replica.Leader{}
	b.repl.kick = make(chan struct{}, 1)
	b.repl.refusals = isrRefusals{}
	b.repl.refusedLog = logLimiter{burst: refusedLogBurst, interval: time.Minute}
	cfg := replica.FetchersConfig{
		NodeID:   b.cfg.NodeID,
		Endpoint: b.replicaEndpoint,
		BrokerEpoch: func() int64 {
			if br, ok := b.image().Broker(b.cfg.NodeID); ok {
				return br.Epoch
			}
			return -1
		},
		Appended: b.replicaAppended,
		Throttle: b.followerThrottle,
		Logger:   b.logger.With("component", "replica fetcher"),
	}
	b.cfg.ReplicaFetch.apply(&cfg)
	if b.cfg.ReplicaFsync && b.cfg.FlushPolicy == flush.Durable {
		// Under the interval policy the leader counts its own log end,
		// not its flushed offset: a follower counts its appends too
		// (Kafka's rule), or it would be held to a stricter rule than
		// the leader.
		cfg.Durable = b.replicaDurable
	}
	b.repl.fetchers = replica.NewFetchers(cfg)
	b.bg.Add(1)
	go b.isrLoop()
}

// stopReplication stops the fetch loops and ends every leadership
// (acks=all waiters answered NOT_LEADER_OR_FOLLOWER) as Close starts.
func (b *Broker) stopReplication() {
	b.repl.fetchers.Close()
	for _, t := range b.table.Load().byName {
		for _, p := range t.partitions() {
			b.resign(p)
		}
	}
}

// replicateLocked makes this node lead or follow the partition p as the
// image's mp says (see above), noting in changes a new leadership or a
// new leader followed. Under adminMu.
func (b *Broker) replicateLocked(p *partition, mp metadata.Partition, changes *roleChanges) {
	self := b.cfg.NodeID
	single := p.singleReplica
	p.singleReplica = len(mp.Replicas) <= 1
	if p.singleReplica {
		b.resign(p)
		b.unfollowLocked(p)
		p.replicated.Store(false)
		return
	}
	if single {
		// A reassignment to more replicas: its consumers saw up to the
		// one-replica high watermark, where the log's starts. (A log
		// opened at startup keeps its checkpointed one: past it may lie
		// records the ISR never had.)
		p.log.SetHighWatermark(max(p.log.HighWatermark(), b.highWatermark(p)))
	}
	p.replicated.Store(true)
	if mp.Leader != self {
		b.resign(p)
		if b.followLocked(p, mp) {
			changes.follows(p.index, mp)
		}
		return
	}
	now := time.Now()
	if l := p.leader.Load(); l != nil && l.LeaderEpoch() == mp.LeaderEpoch {
		shrunk, expanded := l.Update(mp.PartitionEpoch, mp.Replicas, mp.ISR, now)
		if shrunk {
			b.metrics.isrShrinks.Inc()
		}
		if expanded {
			b.metrics.isrExpands.Inc()
		}
		return
	}
	b.unfollowLocked(p)
	b.resign(p)
	l := replica.NewLeader(replica.LeaderConfig{
		Self: self, LeaderEpoch: mp.LeaderEpoch, PartitionEpoch: mp.PartitionEpoch,
		Replicas: mp.Replicas, ISR: mp.ISR, Log: p.log,
		Durable:       b.cfg.FlushPolicy == flush.Durable,
		HighWatermark: p.log.HighWatermark(),
		Now:           now,
		ISRChangeWanted: func(l *replica.Leader) {
			b.repl.want(l, p)
		},
	})
	l.Advance() // a leader alone in its ISR commits its log at once
	p.leader.Store(l)
	changes.leads(p.index, mp)
}

// resign ends this node's leadership of p, if it has one.
func (b *Broker) resign(p *partition) {
	if l := p.leader.Swap(nil); l != nil {
		l.Resign()
	}
}

// want queues l's ISR change for the isr loop.
func (r *replication) want(l *replica.Leader, p *partition) {
	r.mu.Lock()
	r.mu.wanted[p] = l
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// isrLoop sends the ISR changes due: every partition's every half of
// replica.lag.time.max.ms, the wanted ones at once.
func (b *Broker) isrLoop() {
	defer b.bg.Done()
	t := time.NewTicker(max(b.cfg.ReplicaLagTimeMax/2, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
			b.sendISRChanges(b.ledPartitions())
		case <-b.repl.kick:
			b.repl.mu.Lock()
			wanted := b.repl.mu.wanted
			b.repl.mu.wanted = map[*partition]*replica.Leader{}
			b.repl.mu.Unlock()
			b.sendISRChanges(wanted)
		}
	}
}

// ledPartitions are the partitions this node leads with more than one
// replica, with their Leaders.
func (b *Broker) ledPartitions() map[*partition]*replica.Leader {
	led := map[*partition]*replica.Leader{}
	for _, t := range b.table.Load().byName {
		for _, p := range t.partitions() {
			if l := p.leaderState(); l != nil {
				led[p] = l
			}
		}
	}
	return led
}

// isrChangeTimeout bounds one AlterPartition round trip.
const isrChangeTimeout = 10 * time.Second

// sendISRChanges asks the leaders of led for their changes due and sends
// them to the controller in one AlterPartition; each Leader is told its
// answer.
func (b *Broker) sendISRChanges(led map[*partition]*replica.Leader) {
	type sent struct {
		l  *replica.Leader
		ch replica.ISRChange
		p  *partition
		mp metadata.Partition // as the image had it when proposed
	}
	now, img := time.Now(), b.image()
	req := kmsg.NewPtrAlterPartitionRequest()
	req.Version = 3
	req.BrokerID = b.cfg.NodeID
	req.BrokerEpoch = -1
	if br, ok := img.Broker(b.cfg.NodeID); ok {
		req.BrokerEpoch = br.Epoch
	}
	topics := map[[16]byte]int{} // index in req.Topics
	changes := map[[16]byte]map[int32]sent{}
	b.repl.refusals.expire(now)
	for p, l := range led {
		if p.leaderState() != l {
			continue // resigned meanwhile
		}
		mp, _ := img.Partition(p.topic, p.index)
		eligible := func(id int32) bool {
			br, ok := img.Broker(id)
			return ok && !br.Fenced && !b.repl.refusals.refused(p, id, mp, br, now)
		}
		ch, ok := l.ProposeISR(now, b.cfg.ReplicaLagTimeMax, eligible)
		if !ok {
			continue
		}
		i, ok := topics[p.topicID]
		if !ok {
			i = len(req.Topics)
			topics[p.topicID] = i
			rt := kmsg.NewAlterPartitionRequestTopic()
			rt.TopicID, rt.Topic = p.topicID, p.topic
			req.Topics = append(req.Topics, rt)
			changes[p.topicID] = map[int32]sent{}
		}
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch = p.index, ch.LeaderEpoch, ch.PartitionEpoch
		rp.NewISR = ch.ISR
		for _, id := range ch.ISR {
			e := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
			e.BrokerID = id
			rp.NewEpochISR = append(rp.NewEpochISR, e)
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		changes[p.topicID][p.index] = sent{l, ch, p, mp}
		b.logger.Info("asking the controller for an ISR change", "topic", p.topic, "partition", p.index, "isr", ch.ISR, "leader epoch", ch.LeaderEpoch, "partition epoch", ch.PartitionEpoch)
	}
	if len(req.Topics) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(b.lifetime, isrChangeTimeout)
	defer cancel()
	resp := b.controller().AlterPartition(ctx, req)
	answered := 0
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			s, ok := changes[rt.TopidID][rp.Partition]
			if !ok {
				continue
			}
			delete(changes[rt.TopidID], rp.Partition)
			answered++
			var err error
			if rp.ErrorCode != 0 {
				err = kerr.ErrorForCode(rp.ErrorCode)
				if err == kerr.IneligibleReplica {
					b.repl.refusals.refuse(s.p, s.ch.ISR, s.mp, img.Broker, now.Add(b.cfg.ReplicaLagTimeMax))
				}
				if ok, suppressed := b.repl.refusedLog.allow(now); ok {
					b.logger.Warn("the controller refused an ISR change", "topic", s.p.topic, "partition", rp.Partition, "isr", s.ch.ISR, "err", err, "suppressed", suppressed)
				}
			}
			s.l.ISRChangeAnswered(s.ch, err)
		}
	}
	// Partitions the answer left out (a request that failed whole):
	// their changes end, to be proposed again.
	failed := kerr.ErrorForCode(resp.ErrorCode)
	if failed == nil {
		failed = kerr.UnknownServerError
	}
	for _, parts := range changes {
		for _, s := range parts {
			s.l.ISRChangeAnswered(s.ch, failed)
		}
	}
}

// The controller's refusals of ISR changes are logged at most
// refusedLogBurst times a minute.
const refusedLogBurst = 10

// isrRefusals are the followers the controller refused into a partition's
// ISR (INELIGIBLE_REPLICA: a broker in controlled shutdown, fenced, or of
// an old epoch). A leader proposes one again only once the image changes
// the partition (its epoch) or the broker's registration (epoch, fencing),
// or the refusal's time is up: the controller would give the same answer,
// and a shutting-down broker stays caught up, so every check would ask.
type isrRefusals map[isrRefusalKey]isrRefusal

type isrRefusalKey struct {
	p        *partition
	follower int32
}

type isrRefusal struct {
	partitionEpoch int32
	brokerEpoch    int64
	fenced         bool
	until          time.Time
}

// refuse notes the refusal of isr's followers that mp's ISR lacks, until
// then; broker is their registration (an image's Broker).
func (r isrRefusals) refuse(p *partition, isr []int32, mp metadata.Partition, broker func(int32) (metadata.Broker, bool), until time.Time) {
	for _, id := range isr {
		if slices.Contains(mp.ISR, id) {
			continue
		}
		br, _ := broker(id)
		r[isrRefusalKey{p, id}] = isrRefusal{mp.PartitionEpoch, br.Epoch, br.Fenced, until}
	}
}

// refused reports whether follower was refused into p's ISR with the
// partition as mp and the broker as br, and the refusal holds at now.
func (r isrRefusals) refused(p *partition, follower int32, mp metadata.Partition, br metadata.Broker, now time.Time) bool {
	k := isrRefusalKey{p, follower}
	f, ok := r[k]
	if !ok {
		return false
	}
	if f.partitionEpoch != mp.PartitionEpoch || f.brokerEpoch != br.Epoch || f.fenced != br.Fenced || !now.Before(f.until) {
		delete(r, k)
		return false
	}
	return true
}

// expire forgets the refusals whose time is up (of partitions no longer
// led here too).
func (r isrRefusals) expire(now time.Time) {
	for k, f := range r {
		if !now.Before(f.until) {
			delete(r, k)
		}
	}
}

// followed is the leader a partition follows: its id and epoch.
type followed struct{ leader, epoch int32 }

// notFollowed is a partition's followed when it follows no one.
var notFollowed = followed{leader: -1, epoch: -1}

// followLocked has p follow the image's leader mp.Leader (none: stop
// following), once per leader epoch; it reports whether it started
// following a new leader or epoch.
func (b *Broker) followLocked(p *partition, mp metadata.Partition) (changed bool) {
	if mp.Leader < 0 {
		b.unfollowLocked(p)
		return false
	}
	want := followed{mp.Leader, mp.LeaderEpoch}
	if p.followed == want {
		return false
	}
	p.followed = want
	b.repl.flushers.Store(p.log, p.flusher)
	b.repl.fetchers.Follow(replica.Followed{Topic: p.topic, TopicID: p.topicID, Partition: p.index,
		Leader: mp.Leader, LeaderEpoch: mp.LeaderEpoch, Log: p.log})
	return true
}

// unfollowLocked stops following p; once it returns, no fetch loop
// touches its log.
func (b *Broker) unfollowLocked(p *partition) {
	if p.followed == notFollowed {
		return
	}
	p.followed = notFollowed
	b.repl.fetchers.Unfollow(p.topicID, p.index)
	b.repl.flushers.Delete(p.log)
}

// replicaEndpoint is where this node's fetch loops reach broker id: its
// endpoint on the client listener in the current image.
func (b *Broker) replicaEndpoint(id int32) (string, bool) {
	host, port, _, ok := b.leaderEndpoint(b.image(), id)
	if !ok {
		return "", false
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port))), true
}

// replicaDurable makes a follower's append count once its log dir's
// flusher has synced it (runnel.replica.fsync).
func (b *Broker) replicaDurable(log replica.FollowerLog, end int64, done func(error)) {
	l := log.(*segment.Log)
	f, ok := b.repl.flushers.Load(l)
	if !ok {
		done(errNotLeader) // unfollowed meanwhile
		return
	}
	f.(*flush.Flusher).Wait(l, end, done)
}

// followerThrottle is the follower-side replication throttle of partition
// of topic, nil when it has none.
func (b *Broker) followerThrottle(topic string, partition int32) replica.Throttle {
	if t := b.replicationThrottle(followerSide, topic, partition); t != nil {
		return t
	}
	return nil
}

// replicaAppended counts a follower's append toward its log dir's flush
// policy (log.flush.interval.messages and .ms), as a produce's append.
func (b *Broker) replicaAppended(log replica.FollowerLog, messages int64) {
	l := log.(*segment.Log)
	if f, ok := b.repl.flushers.Load(l); ok {
		f.(*flush.Flusher).Appended(l, messages)
	}
}

// replicationGauges are the replication figures, read at scrape time:
// partitions led here whose ISR lacks a replica (Kafka's
// UnderReplicatedPartitions), and partitions without a leader (Kafka's
// OfflinePartitionsCount), counted on the active controller only, as
// Kafka does, so that a sum over the brokers counts each once.
func replicationGauges(b *Broker) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "runnel_under_replicated_partitions", Help: "Partitions led by this broker whose ISR lacks some replica.",
		}, func() float64 {
			n := 0
			for _, l := range b.ledPartitions() {
				if l.UnderReplicated() {
					n++
				}
			}
			return float64(n)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "runnel_offline_partitions", Help: "Partitions without a leader; counted by the active controller only (0 on every other node).",
		}, func() float64 {
			if b.quorum == nil || !b.quorum.ctrl.Active() {
				return 0
			}
			n := 0
			for t := range b.image().Topics() {
				for p := range t.Partitions() {
					if p.Leader == metadata.NoLeader {
						n++
					}
				}
			}
			return float64(n)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "runnel_replica_max_lag_bytes", Help: "The most bytes a partition this broker follows is behind its leader's high watermark, as last heard: its lag in messages times the bytes per offset of its last fetched records (an estimate).",
		}, func() float64 {
			if f := b.repl.fetchers; f != nil {
				return float64(f.LagBytes())
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "runnel_replica_max_seconds_since_caught_up", Help: "The longest time since a partition this broker follows was last at its leader's high watermark.",
		}, func() float64 {
			if f := b.repl.fetchers; f != nil {
				return f.SinceCaughtUp(time.Now()).Seconds()
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "runnel_isr_max_seconds_since_caught_up", Help: "The longest time since a follower in the ISR of a partition this broker leads last held the leader's whole log (replica.lag.time.max.ms bounds it).",
		}, func() float64 {
			var longest time.Duration
			now := time.Now()
			for _, l := range b.ledPartitions() {
				longest = max(longest, l.MaxSinceCaughtUp(now))
			}
			return longest.Seconds()
		}),
	}
}

// roleChanges are the partitions of one topic that an image made this node
// lead, or follow a new leader or epoch: applyImageLocked logs them as one
// line per topic (Kafka logs each partition's leadership at INFO; a topic
// of 10,000 partitions would flood that way).
type roleChanges struct {
	led      []int32           // partitions this node now leads
	followed map[int32][]int32 // by leader: partitions now fetched from it
	epochs   map[int32]bool    // the leader epochs seen
}

func (c *roleChanges) leads(index int32, mp metadata.Partition) {
	c.led = append(c.led, index)
	c.epoch(mp.LeaderEpoch)
}

func (c *roleChanges) follows(index int32, mp metadata.Partition) {
	if c.followed == nil {
		c.followed = map[int32][]int32{}
	}
	c.followed[mp.Leader] = append(c.followed[mp.Leader], index)
	c.epoch(mp.LeaderEpoch)
}

func (c *roleChanges) epoch(e int32) {
	if c.epochs == nil {
		c.epochs = map[int32]bool{}
	}
	c.epochs[e] = true
}

// log writes the changes of topic, if any, as one line.
func (c *roleChanges) log(logger *slog.Logger, topic string) {
	if len(c.led) == 0 && len(c.followed) == 0 {
		return
	}
	attrs := []any{"topic", topic}
	if len(c.led) > 0 {
		attrs = append(attrs, "leads", partitionList(c.led))
	}
	for _, leader := range slices.Sorted(maps.Keys(c.followed)) {
		attrs = append(attrs, fmt.Sprintf("follows %d", leader), partitionList(c.followed[leader]))
	}
	attrs = append(attrs, "leader epochs", partitionList(slices.Sorted(maps.Keys(c.epochs))))
	logger.Info("partition leadership changed", attrs...)
}

// partitionList is a list of partition indexes (or epochs) for a log line:
// all of them up to eight, else the first eight and how many in all.
func partitionList(xs []int32) string {
	const shown = 8
	slices.Sort(xs)
	var b strings.Builder
	for i, x := range xs[:min(len(xs), shown)] {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(int(x)))
	}
	if len(xs) > shown {
		fmt.Fprintf(&b, " ... (%d in all)", len(xs))
	}
	return "[" + b.String() + "]"
}

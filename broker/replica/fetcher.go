package replica

// The follower side of replication, as Kafka's ReplicaFetcherManager and
// ReplicaFetcherThread (AbstractFetcherThread) do it.
//
// One loop per leader broker, one goroutine and one connection each, fetches
// every partition this node follows from that leader in one Fetch: the
// highest version both ends have (12 at least, for DivergingEpoch), topics
// by id from v13, this node's id in ReplicaState from v15 (ReplicaID
// before), and per partition FetchOffset = the log end, LastFetchedEpoch =
// the log's last leader epoch, CurrentLeaderEpoch = the epoch the metadata
// gave. The fetches go through a fetch session (KIP-227, session.go): after
// the first, a fetch names only what changed, and the leader answers only
// what is new.
//
// A partition with a replication throttle (FetchersConfig.Throttle) that
// has not caught up is left out of a fetch while the throttle is exhausted
// (see fetchable); the bytes fetched for it are recorded in the throttle.
//
// Per partition of a response:
//
//   - records: the whole batches are appended unchanged
//     (FollowerLog.AppendAsFollower; a trailing partial batch is dropped and
//     fetched again). The high watermark becomes min(the leader's, our log
//     end); a leader log start offset above ours moves ours up
//     (DeleteRecordsBefore). With FetchersConfig.Durable (Redpanda's rule: a
//     follower counts only what it has fsynced), the loop waits for the
//     flush of what it appended before its next fetch reports the new end
//     (the broker sets it under the durable flush policy only: under the
//     interval policy the leader counts its log end, and so do followers).
//     Each append is counted toward the flush policy (FetchersConfig.Appended).
//   - DivergingEpoch (KIP-279): the log is truncated as Kafka's
//     AbstractFetcherThread.getOffsetTruncationState decides, from the
//     leader's (epoch, end offset) and our own end offset for that epoch,
//     and the next fetch goes on from there.
//   - OFFSET_OUT_OF_RANGE: Kafka's handleOutOfRangeError. ListOffsets (with
//     our replica id, so latest is the leader's log end) asks the leader's
//     end: below ours, we truncate to it; else when the leader's start is
//     above our end, the log restarts empty at it
//     (TruncateFullyAndStartAt).
//   - FENCED_LEADER_EPOCH: the partition waits for a new Follow (the
//     metadata moved on). A leader that has not applied the metadata that
//     makes it the leader yet (UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_OR_PARTITION,
//     UNKNOWN_LEADER_EPOCH, or NOT_LEADER_OR_FOLLOWER naming an older
//     leader epoch than ours): the partition is fetched again after
//     firstQuickRetry, doubling up to Backoff, so that the first acks=all
//     produce on a new topic does not wait a whole Backoff. Any other error
//     (a log that refuses an append): the partition waits Backoff, or until
//     a new Follow, and is fetched again.
//
// A connection error closes the connection; the loop backs off and
// reconnects. Nothing is retried blindly: a request that failed is not
// resent, the next one is built afresh from the logs. A partition's
// problem never holds up the others, and nothing the leader sends can
// panic the follower (a response that does not decode is a connection
// error).
//
// Follow and Unfollow take effect between two responses: once Unfollow (or
// a Follow that moves the partition) returns, its loop no longer touches
// the log. Lock order: Fetchers.mu, then a loop's mu.

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/segment"
)

// FollowerLog is what a follower does to its partition's local log
// (*segment.Log).
type FollowerLog interface {
	EndOffset() int64
	FlushedOffset() int64
	StartOffset() int64
	LeaderEpochs() []segment.EpochEntry
	EndOffsetForEpoch(epoch int32) (int32, int64)
	AppendAsFollower(records []byte) (segment.AppendInfo, error)
	TruncateTo(offset int64) error
	TruncateFullyAndStartAt(offset int64) error
	DeleteRecordsBefore(offset int64) (int64, error)
	SetHighWatermark(offset int64) int64
}

// Followed is a partition this node follows, as the metadata image says.
// Log must be comparable (a pointer): a Follow equal to the current one
// changes nothing.
type Followed struct {
	Topic       string
	TopicID     [16]byte
	Partition   int32
	Leader      int32
	LeaderEpoch int32
	Log         FollowerLog
}

// FetchersConfig configures the fetch loops. Zero values take Kafka's
// defaults (replica.fetch.*).
type FetchersConfig struct {
	NodeID int32
	// Endpoint is the address of a broker's inter-broker listener; false
	// when unknown (the loop backs off and asks again).
	Endpoint func(broker int32) (addr string, ok bool)
	// Durable, if set, makes a follower count only what it has fsynced: it
	// is called after an append with the log's new end, and done is called
	// once the log is durable up to there (or with the error that stopped
	// it). nil: Kafka's rule, an append counts at once.
	Durable func(log FollowerLog, end int64, done func(error))
	// Throttle, if set, is the replication throttle a followed partition's
	// fetches go through (follower.replication.throttled.rate and
	// .replicas), nil when it has none.
	Throttle func(topic string, partition int32) Throttle
	// Appended, if set, is told of each append (the number of offsets it
	// added), as a leader's appends are: the flush policy's
	// log.flush.interval.messages and .ms count them.
	Appended func(log FollowerLog, messages int64)
	// MaxWait (replica.fetch.wait.max.ms, 500 ms), MinBytes
	// (replica.fetch.min.bytes, 1), MaxBytes
	// (replica.fetch.response.max.bytes, 10 MiB), PartitionMaxBytes
	// (replica.fetch.max.bytes, 1 MiB): the Fetch's fields.
	MaxWait                               time.Duration
	MinBytes, MaxBytes, PartitionMaxBytes int32
	// Backoff (replica.fetch.backoff.ms, 1 s) is how long a partition with
	// an error, or a loop without a connection, waits.
	Backoff time.Duration
	// Timeout (replica.socket.timeout.ms, 30 s) bounds a request beyond
	// the fetch's MaxWait, and a connection attempt.
	Timeout time.Duration
	// MaxResponseBytes caps a response's size before it is read (100 MiB,
	// and at least twice MaxBytes: a leader sends one whole batch even
	// when it is larger than the limits).
	MaxResponseBytes int
	// BrokerEpoch is this node's broker epoch for ReplicaState (v15+);
	// nil sends -1.
	BrokerEpoch func() int64
	Logger      *slog.Logger
}

func (c *FetchersConfig) defaults() {
	if c.MaxWait <= 0 {
		c.MaxWait = 500 * time.Millisecond
	}
	if c.MinBytes <= 0 {
		c.MinBytes = 1
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 10 << 20
	}
	if c.PartitionMaxBytes <= 0 {
		c.PartitionMaxBytes = 1 << 20
	}
	if c.Backoff <= 0 {
		c.Backoff = time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	c.MaxResponseBytes = max(c.MaxResponseBytes, 100<<20, 2*int(c.MaxBytes))
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Throttle is a replication throttle: a bucket of bytes the partitions it
// holds back share (the broker's follower.replication.throttled.rate).
type Throttle interface {
	// Allowed reports whether bytes may go now (the bucket is not
	// exhausted).
	Allowed() bool
	// Record takes bytes fetched out of the bucket, which they may
	// overdraw.
	Record(bytes int)
}

// Fetchers are this node's fetch loops, one per leader it follows
// partitions of.
type Fetchers struct {
	cfg FetchersConfig

	mu     sync.Mutex
	loops  map[int32]*fetchLoop            // by leader
	parts  map[partitionKey]*followedState // every partition followed
	closed bool
	wg     sync.WaitGroup // the loops' goroutines

	traffic fetchTraffic
}

// FetchTraffic is what the fetch loops sent and received in Fetch requests
// since they started: requests answered, and their bytes on the wire.
type FetchTraffic struct {
	Requests, RequestBytes, ResponseBytes int64
}

type fetchTraffic struct {
	requests, requestBytes, responseBytes atomic.Int64
}

// Traffic is the loops' Fetch traffic so far.
func (f *Fetchers) Traffic() FetchTraffic {
	t := &f.traffic
	return FetchTraffic{t.requests.Load(), t.requestBytes.Load(), t.responseBytes.Load()}
}

type partitionKey struct {
	topicID   [16]byte
	partition int32
}

// followedState is one partition in its loop. A new Follow replaces it
// with a fresh one: the loop checks that the state it worked on is still
// the current one before it touches the log.
type followedState struct {
	Followed
	key partitionKey

	// Under the loop's mu.
	retryAt time.Time // not fetched before then
	fenced  bool      // FENCED_LEADER_EPOCH: waits for a new Follow
	failing bool      // the last attempt failed (logged once until it works)
	// quickRetry is the last wait for a leader not caught up with the
	// metadata yet (0: none since the partition last worked).
	quickRetry time.Duration

	leaderHW atomic.Int64 // the leader's high watermark, last heard; -1 none
	lagClock lagClock     // since when it is behind, and its bytes per offset (lag.go)
}

// NewFetchers returns fetch loops that follow nothing yet.
func NewFetchers(cfg FetchersConfig) *Fetchers {
	cfg.defaults()
	return &Fetchers{cfg: cfg, loops: map[int32]*fetchLoop{}, parts: map[partitionKey]*followedState{}}
}

// Follow fetches the partition from fw.Leader, moving it from the loop of
// its previous leader, if another. Repeating the current Follow changes
// nothing; one with a new epoch ends a wait (FENCED_LEADER_EPOCH,
// backoff). A leader below 0 (none) is Unfollow.
func (f *Fetchers) Follow(fw Followed) {
	if fw.Leader < 0 || fw.Leader == f.cfg.NodeID {
		f.Unfollow(fw.TopicID, fw.Partition)
		return
	}
	key := partitionKey{fw.TopicID, fw.Partition}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	if old := f.parts[key]; old != nil {
		if old.Followed == fw {
			return
		}
		if old.Leader != fw.Leader {
			f.removeLocked(key, old)
		} // else the new state replaces the old in the same loop, below
	}
	l := f.loops[fw.Leader]
	if l == nil {
		l = f.startLoop(fw.Leader)
	}
	s := &followedState{Followed: fw, key: key}
	s.leaderHW.Store(-1)
	s.lagClock.caughtUp(time.Now())
	f.parts[key] = s
	l.mu.Lock()
	l.mu.parts[key] = s
	l.mu.Unlock()
	l.wakeUp()
}

// Unfollow stops fetching the partition. When it returns, no loop touches
// the partition's log any more.
func (f *Fetchers) Unfollow(topicID [16]byte, partition int32) {
	key := partitionKey{topicID, partition}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.parts[key]; s != nil {
		f.removeLocked(key, s)
	}
}

// removeLocked takes s out of its loop, stopping the loop when it has no
// partition left.
func (f *Fetchers) removeLocked(key partitionKey, s *followedState) {
	delete(f.parts, key)
	l := f.loops[s.Leader]
	l.mu.Lock()
	delete(l.mu.parts, key)
	empty := len(l.mu.parts) == 0
	l.mu.Unlock()
	if empty {
		l.stop()
		delete(f.loops, s.Leader)
	}
}

// Close stops every loop and waits for them.
func (f *Fetchers) Close() {
	f.mu.Lock()
	f.closed = true
	for leader, l := range f.loops {
		l.stop()
		delete(f.loops, leader)
	}
	clear(f.parts)
	f.mu.Unlock()
	f.wg.Wait()
}

// Lag is the largest number of messages a followed partition is behind its
// leader's high watermark, as last heard (Kafka's MaxLag).
func (f *Fetchers) Lag() (maxMessages int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.parts {
		if hw := s.leaderHW.Load(); hw >= 0 {
			maxMessages = max(maxMessages, hw-s.Log.EndOffset())
		}
	}
	return maxMessages
}

// fetchLoop fetches the partitions led by one broker.
type fetchLoop struct {
	cfg     *FetchersConfig
	leader  int32
	ctx     context.Context
	stop    context.CancelFunc
	wake    chan struct{} // capacity 1: partitions added, a wait over
	traffic *fetchTraffic // the Fetchers'
	round   int           // rotates the request's order
	// session is the fetch session with the leader (session.go).
	session followerSession

	// mu is held while the loop applies a response to the logs, so that
	// Follow and Unfollow happen between two responses.
	mu struct {
		sync.Mutex
		parts map[partitionKey]*followedState
	}
	failing bool // the connection failed (logged once until it works)
}

// startLoop starts the loop of leader; f.mu is held.
func (f *Fetchers) startLoop(leader int32) *fetchLoop {
	l := newFetchLoop(&f.cfg, leader)
	l.traffic = &f.traffic
	f.loops[leader] = l
	f.wg.Go(l.run)
	return l
}

func newFetchLoop(cfg *FetchersConfig, leader int32) *fetchLoop {
	ctx, stop := context.WithCancel(context.Background())
	l := &fetchLoop{cfg: cfg, leader: leader, ctx: ctx, stop: stop, wake: make(chan struct{}, 1), traffic: &fetchTraffic{}}
	l.mu.parts = map[partitionKey]*followedState{}
	return l
}

func (l *fetchLoop) wakeUp() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// sleep waits until at (zero: until woken), a wake-up or the loop's end.
func (l *fetchLoop) sleep(at time.Time) {
	var timer <-chan time.Time
	if !at.IsZero() {
		t := time.NewTimer(time.Until(at))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-timer:
	case <-l.wake:
	case <-l.ctx.Done():
	}
}

func (l *fetchLoop) run() {
	var conn *leaderConn
	defer func() {
		if conn != nil {
			conn.close()
		}
	}()
	for l.ctx.Err() == nil {
		sent, next := l.fetchable(time.Now())
		if len(sent) == 0 {
			l.sleep(next)
			continue
		}
		if conn == nil {
			var err error
			if conn, err = l.connect(); err != nil {
				l.connFailed(err)
				l.sleep(time.Now().Add(l.cfg.Backoff))
				continue
			}
		}
		req := l.request(conn.fetchVersion, sent)
		incremental := l.session.prepare(req)
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		if err := conn.roundTrip(req, resp, l.cfg.MaxWait); err != nil {
			conn.close()
			conn = nil
			l.session.reset()
			l.connFailed(err)
			l.sleep(time.Now().Add(l.cfg.Backoff))
			continue
		}
		l.traffic.requests.Add(1)
		l.traffic.requestBytes.Add(int64(conn.lastSent))
		l.traffic.responseBytes.Add(int64(conn.lastReceived))
		if l.failing {
			l.failing = false
			l.cfg.Logger.Info("replica fetcher: fetching from the leader again", "leader", l.leader)
		}
		if !l.session.answered(resp) {
			continue // the session is gone: a full fetch now
		}
		outOfRange, flushes := l.apply(req.Version, resp, sent, incremental && resp.SessionID != 0)
		if len(outOfRange) > 0 && !l.resolveOutOfRange(conn, outOfRange) {
			conn.close()
			conn = nil
		}
		l.awaitFlushes(flushes)
	}
}

// connect dials the leader's endpoint.
func (l *fetchLoop) connect() (*leaderConn, error) {
	addr, ok := l.cfg.Endpoint(l.leader)
	if !ok {
		return nil, fmt.Errorf("replica: no endpoint known for broker %d", l.leader)
	}
	return dialLeader(l.ctx, addr, l.cfg.Timeout, l.cfg.MaxResponseBytes)
}

// connFailed logs a connection failure, once until one works again.
func (l *fetchLoop) connFailed(err error) {
	if l.ctx.Err() != nil || l.failing {
		return
	}
	l.failing = true
	l.cfg.Logger.Warn("replica fetcher: cannot fetch from the leader, retrying", "leader", l.leader, "backoff", l.cfg.Backoff, "err", err)
}

// sentPartition is a partition in a fetch request, with what the request
// said of it.
type sentPartition struct {
	s           *followedState
	fetchOffset int64
	throttle    Throttle // nil: not throttled
	answered    bool
}

// fetchable returns the partitions to fetch now, grouped by topic, and when
// the next one waiting for its backoff may be fetched (zero: none waits).
//
// A throttled partition not caught up to the leader's high watermark is
// left out while its throttle is exhausted and waits a backoff when no
// other is fetched, as Kafka's ReplicaFetcherThread (shouldFollowerThrottle)
// does: one that has caught up is in sync, and never held back.
func (l *fetchLoop) fetchable(now time.Time) (sent []sentPartition, next time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	later := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	for _, s := range l.mu.parts {
		switch {
		case s.fenced:
		case now.Before(s.retryAt):
			later(s.retryAt)
		default:
			sp := sentPartition{s: s, fetchOffset: s.Log.EndOffset()}
			if l.cfg.Throttle != nil {
				sp.throttle = l.cfg.Throttle(s.Topic, s.Partition)
			}
			if sp.throttle != nil && !s.inSync(sp.fetchOffset) && !sp.throttle.Allowed() {
				later(now.Add(l.cfg.Backoff))
				continue
			}
			sent = append(sent, sp)
		}
	}
	// Sorted, then rotated by one each round so that under MaxBytes every
	// partition gets its turn first (Kafka moves fetched partitions to the
	// end), then grouped by topic keeping that order.
	slices.SortFunc(sent, func(a, b sentPartition) int {
		return cmp.Or(cmp.Compare(a.s.Topic, b.s.Topic), cmp.Compare(a.s.Partition, b.s.Partition))
	})
	if len(sent) > 1 {
		l.round++
		k := l.round % len(sent)
		sent = append(sent[k:], sent[:k]...)
		first := map[string]int{}
		for i, sp := range sent {
			if _, ok := first[sp.s.Topic]; !ok {
				first[sp.s.Topic] = i
			}
		}
		slices.SortStableFunc(sent, func(a, b sentPartition) int { return cmp.Compare(first[a.s.Topic], first[b.s.Topic]) })
	}
	return sent, next
}

// request is the full Fetch of sent, consecutive partitions of a topic
// making one request topic; the session (session.go) makes it its next
// request.
func (l *fetchLoop) request(version int16, sent []sentPartition) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	if version >= 15 {
		req.ReplicaState.ID = l.cfg.NodeID
		if l.cfg.BrokerEpoch != nil {
			req.ReplicaState.Epoch = l.cfg.BrokerEpoch()
		}
	} else {
		req.ReplicaID = l.cfg.NodeID
	}
	req.MaxWaitMillis = int32(l.cfg.MaxWait.Milliseconds())
	req.MinBytes, req.MaxBytes = l.cfg.MinBytes, l.cfg.MaxBytes
	for i, sp := range sent {
		if i == 0 || sp.s.Topic != sent[i-1].s.Topic {
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = sp.s.Topic, sp.s.TopicID
			req.Topics = append(req.Topics, t)
		}
		t := &req.Topics[len(req.Topics)-1]
		p := kmsg.NewFetchRequestTopicPartition()
		p.Partition = sp.s.Partition
		p.CurrentLeaderEpoch = sp.s.LeaderEpoch
		p.FetchOffset = sp.fetchOffset
		p.LastFetchedEpoch = lastEpoch(sp.s.Log)
		p.LogStartOffset = sp.s.Log.StartOffset()
		p.PartitionMaxBytes = l.cfg.PartitionMaxBytes
		t.Partitions = append(t.Partitions, p)
	}
	return req
}

// lastEpoch is the leader epoch of the log's last batch, -1 when it has
// none.
func lastEpoch(log FollowerLog) int32 {
	epochs := log.LeaderEpochs()
	if len(epochs) == 0 {
		return -1
	}
	return epochs[len(epochs)-1].Epoch
}

// pendingFlush is an append whose flush the loop waits for.
type pendingFlush struct {
	s   *followedState
	end int64
}

// apply applies a response to the logs of the partitions still followed as
// they were when it was sent (incremental: partitions it leaves out have
// nothing new). It returns the partitions that were out of range, and the
// appends whose flush to wait for.
func (l *fetchLoop) apply(version int16, resp *kmsg.FetchResponse, sent []sentPartition, incremental bool) (outOfRange []*sentPartition, flushes []pendingFlush) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if resp.ErrorCode != 0 {
		err := kerr.ErrorForCode(resp.ErrorCode)
		for i := range sent {
			l.failed(sent[i].s, now, err)
		}
		return nil, nil
	}
	index := make(map[partitionKey]int, len(sent)) // into sent
	byName := map[string][16]byte{}
	for i, sp := range sent {
		index[sp.s.key] = i
		byName[sp.s.Topic] = sp.s.TopicID
	}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		id := rt.TopicID
		if version < 13 {
			id = byName[rt.Topic]
		}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			k, ok := index[partitionKey{id, rp.Partition}]
			if !ok || sent[k].answered || l.mu.parts[sent[k].s.key] != sent[k].s {
				continue // not asked, answered twice, or no longer followed so
			}
			sp := &sent[k]
			sp.answered = true
			switch err := kerr.ErrorForCode(rp.ErrorCode); {
			case err == nil && (rp.DivergingEpoch.EndOffset >= 0 || rp.DivergingEpoch.Epoch >= 0):
				l.diverged(sp, rp.DivergingEpoch, now)
			case err == nil:
				if end, appended := l.appendRecords(sp, rp, now); appended && l.cfg.Durable != nil {
					flushes = append(flushes, pendingFlush{sp.s, end})
				}
			case err == kerr.OffsetOutOfRange:
				outOfRange = append(outOfRange, sp)
			case err == kerr.FencedLeaderEpoch:
				sp.s.fenced = true
				l.failed(sp.s, now, err)
			case leaderBehind(sp.s, rp):
				l.retrySoon(sp.s, now, err)
			default:
				l.failed(sp.s, now, err)
			}
		}
	}
	for i := range sent {
		switch sp := &sent[i]; {
		case sp.answered || l.mu.parts[sp.s.key] != sp.s:
		case incremental:
			l.unchanged(sp.s, now)
		default:
			l.failed(sp.s, now, fmt.Errorf("replica: the leader's response left the partition out"))
		}
	}
	return outOfRange, flushes
}

// failed puts s off until its backoff is over, logging err once until the
// partition works again. The loop's mu is held.
func (l *fetchLoop) failed(s *followedState, now time.Time, err error) {
	l.putOff(s, now, l.cfg.Backoff, err)
}

// firstQuickRetry is the first wait of a partition whose leader has not
// applied the metadata that makes it the leader yet; each next one doubles,
// up to the Backoff.
const firstQuickRetry = 50 * time.Millisecond

// leaderBehind reports whether the leader's error on s says it has not
// applied the metadata this node's image has yet: it does not know the
// topic or our leader epoch, or names an older leader than ours. s's
// Leader and LeaderEpoch are this node's image's (a new Follow replaces s).
func leaderBehind(s *followedState, rp *kmsg.FetchResponseTopicPartition) bool {
	switch kerr.ErrorForCode(rp.ErrorCode) {
	case kerr.UnknownTopicID, kerr.UnknownTopicOrPartition, kerr.UnknownLeaderEpoch:
		return true
	case kerr.NotLeaderForPartition:
		return rp.CurrentLeader.LeaderEpoch < s.LeaderEpoch
	}
	return false
}

// retrySoon is failed for a leader behind the metadata (leaderBehind): s
// is fetched again after firstQuickRetry, then twice as long each time, up
// to the Backoff. The loop's mu is held.
func (l *fetchLoop) retrySoon(s *followedState, now time.Time, err error) {
	s.quickRetry = min(max(2*s.quickRetry, firstQuickRetry), l.cfg.Backoff)
	l.putOff(s, now, s.quickRetry, err)
}

// putOff puts s off for wait, logging err once until the partition works
// again. The loop's mu is held.
func (l *fetchLoop) putOff(s *followedState, now time.Time, wait time.Duration, err error) {
	s.retryAt = now.Add(wait)
	if s.failing {
		return
	}
	s.failing = true
	level := slog.LevelWarn
	if transient(err) {
		level = slog.LevelInfo
	}
	l.cfg.Logger.Log(context.Background(), level, "replica fetcher: partition not fetched, retrying", "topic", s.Topic, "partition", s.Partition,
		"leader", l.leader, "leader epoch", s.LeaderEpoch, "fenced", s.fenced, "backoff", wait, "err", err)
}

// transient reports whether err is expected while brokers apply a new
// image at different times (the leader does not know the topic or its
// leadership yet, or has moved on): worth an Info line, not a Warn.
func transient(err error) bool {
	switch err {
	case kerr.NotLeaderForPartition, kerr.UnknownTopicID, kerr.UnknownTopicOrPartition, kerr.UnknownLeaderEpoch, kerr.FencedLeaderEpoch:
		return true
	}
	return false
}

// inSync reports whether a log ending at end holds the leader's high
// watermark as last heard (Kafka's PartitionFetchState.isReplicaInSync).
func (s *followedState) inSync(end int64) bool {
	hw := s.leaderHW.Load()
	return hw >= 0 && end >= hw
}

// succeeded notes that s works again.
func (l *fetchLoop) succeeded(s *followedState) {
	s.quickRetry = 0
	if s.failing {
		s.failing = false
		l.cfg.Logger.Info("replica fetcher: partition fetched again", "topic", s.Topic, "partition", s.Partition, "leader", l.leader)
	}
}

// unchanged notes a partition an incremental response left out: nothing
// new since the last answer, the leader's high watermark as last heard. The
// loop's mu is held.
func (l *fetchLoop) unchanged(s *followedState, now time.Time) {
	if s.inSync(s.Log.EndOffset()) {
		s.lagClock.caughtUp(now)
	}
	l.succeeded(s)
}

// appendRecords appends a partition's records and takes the leader's
// watermarks, returning the log end and whether anything was appended.
// The loop's mu is held.
func (l *fetchLoop) appendRecords(sp *sentPartition, rp *kmsg.FetchResponseTopicPartition, now time.Time) (int64, bool) {
	s, log := sp.s, sp.s.Log
	if sp.throttle != nil {
		sp.throttle.Record(len(rp.RecordBatches))
	}
	records, err := wholeBatches(rp.RecordBatches)
	appended := false
	if err == nil && len(records) > 0 {
		var info segment.AppendInfo
		if appended, info, err = appendAsFollower(log, records, sp.fetchOffset); appended && l.cfg.Appended != nil {
			l.cfg.Appended(log, info.LastOffset-info.FirstOffset+1)
		}
	}
	end := log.EndOffset()
	if err != nil {
		l.failed(s, now, fmt.Errorf("replica: appending at %d: %w", sp.fetchOffset, err))
		return end, appended
	}
	if appended {
		s.lagClock.appended(len(records), end-sp.fetchOffset)
	}
	if rp.HighWatermark >= 0 {
		if end >= rp.HighWatermark {
			s.lagClock.caughtUp(now)
		}
		s.leaderHW.Store(rp.HighWatermark)
		log.SetHighWatermark(min(rp.HighWatermark, end))
	}
	if rp.LogStartOffset > log.StartOffset() && rp.LogStartOffset <= end {
		if _, err := log.DeleteRecordsBefore(rp.LogStartOffset); err != nil {
			l.failed(s, now, fmt.Errorf("replica: moving the log start to the leader's %d: %w", rp.LogStartOffset, err))
			return end, appended
		}
	}
	l.succeeded(s)
	return end, appended
}

// appendAsFollower appends records, whose first batch holds fetchOffset,
// the log's end. The one case where that batch starts below the end is
// Kafka's (Partition.appendRecordsToFollowerOrFutureReplica): an empty log
// whose start, as the leader's after DeleteRecords, lies inside a batch;
// the log then restarts at the batch's base offset, and the leader's log
// start offset moves it up again.
func appendAsFollower(log FollowerLog, records []byte, fetchOffset int64) (bool, segment.AppendInfo, error) {
	var none segment.AppendInfo
	end := log.EndOffset()
	if end != fetchOffset {
		return false, none, fmt.Errorf("replica: the log ends at %d, fetched from %d", end, fetchOffset)
	}
	h, err := segment.ParseBatchHeader(records)
	if err != nil {
		return false, none, err
	}
	if h.BaseOffset < end {
		last := h.BaseOffset + int64(h.LastOffsetDelta)
		if end != log.StartOffset() || last < end || h.BaseOffset < 0 {
			return false, none, fmt.Errorf("replica: the leader sent offsets %d-%d, below the log end %d", h.BaseOffset, last, end)
		}
		if err := log.TruncateFullyAndStartAt(h.BaseOffset); err != nil {
			return false, none, err
		}
	}
	info, err := log.AppendAsFollower(records)
	return err == nil, info, err
}

// wholeBatches is the prefix of records that holds whole batches: a leader
// may cut the last one short.
func wholeBatches(records []byte) ([]byte, error) {
	pos := 0
	for len(records)-pos >= segment.BatchHeaderSize {
		h, err := segment.ParseBatchHeader(records[pos:])
		if err != nil {
			return records[:pos], err
		}
		if h.Size() > len(records)-pos {
			break
		}
		pos += h.Size()
	}
	return records[:pos], nil
}

// diverged truncates a log the leader found divergent (KIP-279), as Kafka's
// AbstractFetcherThread.getOffsetTruncationState: to the leader's end of
// its epoch when we have that epoch too, else to our end of the largest
// epoch below it (the next fetch sends that epoch, and the leader checks
// again), or to the leader's end when we know no epoch up to its. The
// loop's mu is held.
func (l *fetchLoop) diverged(sp *sentPartition, div kmsg.FetchResponseTopicPartitionDivergingEpoch, now time.Time) {
	s, log := sp.s, sp.s.Log
	end := log.EndOffset()
	if end != sp.fetchOffset {
		l.failed(s, now, fmt.Errorf("replica: the log ends at %d, fetched from %d", end, sp.fetchOffset))
		return
	}
	target := div.EndOffset
	ownEpoch, ownEnd := log.EndOffsetForEpoch(div.Epoch)
	switch {
	case div.Epoch < 0 || div.EndOffset < 0:
		// The leader knows no epoch up to ours: its log says nothing of
		// where ours diverges. Kafka's leader never answers so (it records
		// its epoch when it is elected).
		l.failed(s, now, fmt.Errorf("replica: the leader answered diverging epoch %d at %d", div.Epoch, div.EndOffset))
		return
	case ownEpoch < 0:
		target = div.EndOffset
	case ownEpoch != div.Epoch:
		target = ownEnd
	default:
		target = min(ownEnd, div.EndOffset)
	}
	if target >= end {
		// Nothing to cut, and the leader says we diverge: fetching again
		// would loop.
		l.failed(s, now, fmt.Errorf("replica: the leader's diverging epoch %d ends at %d, our log at %d: nothing to truncate", div.Epoch, div.EndOffset, end))
		return
	}
	if err := log.TruncateTo(max(target, 0)); err != nil {
		l.failed(s, now, fmt.Errorf("replica: truncating a divergent log to %d: %w", target, err))
		return
	}
	l.cfg.Logger.Info("replica fetcher: truncated a divergent log", "topic", s.Topic, "partition", s.Partition,
		"from", end, "to", log.EndOffset(), "leader epoch", div.Epoch, "leader end offset", div.EndOffset)
	l.succeeded(s)
}

// resolveOutOfRange handles OFFSET_OUT_OF_RANGE as Kafka's
// AbstractFetcherThread.fetchOffsetAndTruncate: the leader's log end below
// ours truncates ours to it; else a leader's log start above our end
// restarts our log empty there. It returns false when the connection
// failed.
func (l *fetchLoop) resolveOutOfRange(conn *leaderConn, parts []*sentPartition) bool {
	now := time.Now()
	latest, err := l.listOffsets(conn, parts, -1)
	if err != nil {
		l.connFailed(err)
		l.mu.Lock()
		for _, sp := range parts {
			l.failed(sp.s, now, err)
		}
		l.mu.Unlock()
		return false
	}
	var belowStart []*sentPartition
	l.mu.Lock()
	for i, sp := range parts {
		s := sp.s
		switch {
		case l.mu.parts[s.key] != s || s.Log.EndOffset() != sp.fetchOffset:
		case latest[i].err != nil:
			l.failed(s, now, fmt.Errorf("replica: the leader's log end: %w", latest[i].err))
		case latest[i].offset < sp.fetchOffset:
			if err := s.Log.TruncateTo(latest[i].offset); err != nil {
				l.failed(s, now, fmt.Errorf("replica: truncating to the leader's end %d: %w", latest[i].offset, err))
				continue
			}
			l.cfg.Logger.Info("replica fetcher: truncated to the leader's log end", "topic", s.Topic, "partition", s.Partition, "from", sp.fetchOffset, "to", latest[i].offset)
		default:
			belowStart = append(belowStart, sp)
		}
	}
	l.mu.Unlock()
	if len(belowStart) == 0 {
		return true
	}
	earliest, err := l.listOffsets(conn, belowStart, -2)
	if err != nil {
		l.connFailed(err)
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, sp := range belowStart {
		s := sp.s
		switch {
		case l.mu.parts[s.key] != s || s.Log.EndOffset() != sp.fetchOffset:
		case earliest[i].err != nil:
			l.failed(s, now, fmt.Errorf("replica: the leader's log start: %w", earliest[i].err))
		case earliest[i].offset > sp.fetchOffset:
			if err := s.Log.TruncateFullyAndStartAt(earliest[i].offset); err != nil {
				l.failed(s, now, fmt.Errorf("replica: restarting the log at the leader's start %d: %w", earliest[i].offset, err))
				continue
			}
			l.cfg.Logger.Info("replica fetcher: log restarted at the leader's log start", "topic", s.Topic, "partition", s.Partition, "from", sp.fetchOffset, "to", earliest[i].offset)
		default:
			// Within the leader's log after all: its log moved since the
			// fetch. Try again later.
			l.failed(s, now, fmt.Errorf("replica: offset %d out of range, but within the leader's log [%d, %d]", sp.fetchOffset, earliest[i].offset, latest[i].offset))
		}
	}
	return true
}

// listed is one partition's answer to ListOffsets.
type listed struct {
	offset int64
	err    error
}

// listOffsets asks the leader the offset at timestamp (-1 latest, -2
// earliest) of each of parts, as a replica: latest is its log end.
func (l *fetchLoop) listOffsets(conn *leaderConn, parts []*sentPartition, timestamp int64) ([]listed, error) {
	if conn.listOffsetsVersion < 1 {
		return nil, fmt.Errorf("replica: the leader serves no ListOffsets version with a replica id")
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = conn.listOffsetsVersion
	req.ReplicaID = l.cfg.NodeID
	index := map[partitionKey]int{}
	for i, sp := range parts {
		index[sp.s.key] = i
		if i == 0 || sp.s.Topic != parts[i-1].s.Topic {
			t := kmsg.NewListOffsetsRequestTopic()
			t.Topic = sp.s.Topic
			req.Topics = append(req.Topics, t)
		}
		t := &req.Topics[len(req.Topics)-1]
		p := kmsg.NewListOffsetsRequestTopicPartition()
		p.Partition, p.CurrentLeaderEpoch, p.Timestamp = sp.s.Partition, sp.s.LeaderEpoch, timestamp
		t.Partitions = append(t.Partitions, p)
	}
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	if err := conn.roundTrip(req, resp, 0); err != nil {
		return nil, err
	}
	out := make([]listed, len(parts))
	for i := range out {
		out[i].err = fmt.Errorf("replica: ListOffsets did not answer the partition")
	}
	ids := map[string][16]byte{}
	for _, sp := range parts {
		ids[sp.s.Topic] = sp.s.TopicID
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			i, ok := index[partitionKey{ids[rt.Topic], rp.Partition}]
			if !ok || parts[i].s.Topic != rt.Topic {
				continue
			}
			switch {
			case rp.ErrorCode != 0:
				out[i] = listed{err: kerr.ErrorForCode(rp.ErrorCode)}
			case rp.Offset < 0:
				out[i] = listed{err: fmt.Errorf("replica: ListOffsets answered offset %d", rp.Offset)}
			default:
				out[i] = listed{offset: rp.Offset}
			}
		}
	}
	return out, nil
}

// awaitFlushes waits until each append is durable (FetchersConfig.Durable)
// or the loop stops; a partition whose flush failed waits its backoff.
func (l *fetchLoop) awaitFlushes(flushes []pendingFlush) {
	if len(flushes) == 0 {
		return
	}
	type result struct {
		s   *followedState
		err error
	}
	results := make(chan result, len(flushes))
	for _, fl := range flushes {
		l.cfg.Durable(fl.s.Log, fl.end, func(err error) { results <- result{fl.s, err} })
	}
	for range flushes {
		select {
		case r := <-results:
			if r.err != nil {
				l.mu.Lock()
				if l.mu.parts[r.s.key] == r.s {
					l.failed(r.s, time.Now(), fmt.Errorf("replica: flushing: %w", r.err))
				}
				l.mu.Unlock()
			}
		case <-l.ctx.Done():
			return
		}
	}
}

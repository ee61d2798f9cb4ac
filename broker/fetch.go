package broker

// Fetch, versions 4 through 18 (v0-v3 carry the old message formats).
//
// Fetch sessions (KIP-227) are in fetchsession.go: a full fetch (epoch 0
// or -1) answers every requested partition, in request order; an
// incremental one reads every partition of its session and answers those
// with something new. Records come
// straight from the segment files: segment.Log.Read gives a file range and
// the response is framed around it (fetchframe.go) and sent with sendfile.
//
// Limits: each partition gets at most its PartitionMaxBytes and the whole
// response at most MaxBytes, except that the first partition with records
// gets at least one whole batch however large (KIP-74), so a consumer is
// never stuck behind a batch bigger than its limits. A range may end with a
// partial batch, which clients drop.
//
// Long polling: when fewer than MinBytes are ready and MaxWaitMillis > 0,
// the fetch registers one wake-up set with each partition's log
// (segment.Log.WatchTagged: a change of what the fetch may read wakes it
// and names the partition; under the durable policy a consumer's is a
// flush, not an append, which moves only the log end it does not read:
// WatchTaggedNoAppends) and re-reads the partitions that
// changed at each wake-up until enough bytes are ready or the wait is over;
// then it answers. An error on any partition answers at once. The wait runs on its own goroutine; the
// connection keeps reading and starting the requests behind it (their
// answers follow this one, in order).
//
// Routing: a partition the metadata image places on another broker is
// NOT_LEADER_OR_FOLLOWER, with its current leader and the leaders' endpoints
// from v16 (KIP-951; routing.go), except that a follower serves consumers
// from v11 (KIP-392, fetch_follower.go). A CurrentLeaderEpoch (v9+) older
// than the image's is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH.
//
// Visibility: the high watermark of a partition with one replica is the
// flushed offset under the durable flush policy (a consumer never sees what
// a crash could take back) and the log end offset under the interval
// policy; a replicated partition's is the one its leader keeps in the log
// (replication.go), and reads stop there (UpToHighWatermark). There are no transactions, so
// the last stable offset is the high watermark and aborted transactions are
// always null.

import (
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
	"runnel/io/flush"
	"runnel/segment"
)

func init() {
	registerAPI(apiHandler{key: kmsg.Fetch.Int16(), minVersion: fetchFrameMinVersion, maxVersion: fetchFrameMaxVersion, handle: handleFetch})
}

// defaultFetchMaxWait is runnel.fetch.max.wait.ms's default. Clients wait
// well under it (Kafka's Java client 500 ms, franz-go 5 s), and a client
// gives up on a request after its request.timeout.ms, 30 s by default: a
// fetch held longer would be answered to nobody, while its goroutine and
// state stay pinned.
const defaultFetchMaxWait = 30 * time.Second

func handleFetch(b *Broker, req *request) *reply {
	r := req.msg.(*kmsg.FetchRequest)
	rep := newReply()
	if req.conn != nil && req.conn.controller {
		// A broker following the metadata log: the controller answers,
		// holding the fetch up to its MaxWaitMillis, so on a goroutine.
		go func() {
			ctx, cancel := b.adminContext(0)
			defer cancel()
			rep.finish(b.quorum.ctrl.FetchMetadata(ctx, r))
		}()
		return rep
	}
	var f *fetch
	switch {
	case r.Version < 7:
		f = newFetch(b, r)
	case r.SessionEpoch == fetchSessionInitialEpoch || r.SessionEpoch == fetchSessionFinalEpoch:
		// A full fetch closes the session it names.
		if r.SessionID != 0 {
			b.fetchSessions.remove(r.SessionID)
		}
		f = newFetch(b, r)
		f.newSession = r.SessionEpoch == fetchSessionInitialEpoch
	default:
		s, err := b.fetchSessions.incremental(r)
		if err != nil {
			resp := r.ResponseKind().(*kmsg.FetchResponse)
			resp.ErrorCode = errCode(err)
			rep.finish(resp)
			return rep
		}
		if s == nil { // the request emptied its session, now closed
			f = newFetch(b, r)
		} else {
			f = newSessionFetch(b, r, s)
			s.mu.Unlock()
			f.read()
		}
	}
	if f.ready() || r.MaxWaitMillis <= 0 {
		f.answer(rep)
		f.free()
		return rep
	}
	go func() {
		f.longPoll(time.Duration(min(int64(r.MaxWaitMillis)*int64(time.Millisecond), int64(b.cfg.FetchMaxWait))))
		f.answer(rep)
		f.free()
	}()
	return rep
}

// fetch is one Fetch request being served. Fetches are pooled: a consumer
// of many partitions sends the same large request over and over.
type fetch struct {
	b       *Broker
	req     *kmsg.FetchRequest
	durable bool // durable flush policy: read only flushed data
	// replica is the follower fetching (fetch_replica.go), -1 for a
	// consumer.
	replica int32
	topics  []fetchTopic
	parts   []fetchPart // all topics' partitions, in request order
	// session: the session of an incremental fetch, whose response holds
	// only partitions with news. newSession: a full fetch asking for one.
	session    *fetchSession
	newSession bool
	// bytes read by the last read, and whether some partition has an error
	// or, for a follower, a diverging epoch, or for a consumer a preferred
	// read replica (fetch_follower.go): all answer at once.
	bytes    int64
	hasError bool
	// redirectImage is the metadata image that placed some partition on
	// another broker (nil: none did), for the response's NodeEndpoints.
	redirectImage *metadata.Image
	// img and table are the metadata image and the topic table the last
	// resolve found the partitions in.
	img   *metadata.Image
	table *topicTable
	// wake is the long poll's WakeSet for wakeTags partitions, kept with
	// the pooled fetch (nil until a fetch waits).
	wake     *segment.WakeSet
	wakeTags int
}

type fetchTopic struct {
	name  string
	id    [16]byte
	parts []fetchPart // a window of fetch.parts
}

// fetchPart is one requested partition: what was asked, and what the last
// read found.
type fetchPart struct {
	p        *partition // nil when err is set by the lookup
	index    int32
	offset   int64
	maxBytes int32
	err      error
	leader   leaderHint   // where err is errNotLeader: the current leader
	sp       *sessionPart // in an incremental fetch, the session's partition
	skip     bool         // left out of the response (incremental fetch)
	// reused: the session's last read of the partition stands
	// (fetch.reusable), and the fetch did not read it again.
	reused bool

	// currentLeaderEpoch and lastFetchedEpoch as the request gave them
	// (-1: none), for replica fetches.
	currentLeaderEpoch, lastFetchedEpoch int32

	header fetchPartitionHeader
	read   segment.ReadResult // empty, or a range holding its segment
	// changes is the log's change count (segment.Log.Changes) before the
	// last read; starved: the last read was left out because the response
	// was full.
	changes uint64
	starved bool
	// throttle is the leader's replication throttle of a follower's
	// fetch of the partition, nil when none (fetch_replica.go).
	throttle *throttleBucket
}

var fetchPool = sync.Pool{New: func() any { return new(fetch) }}

// Fetches with more partitions than this are not kept in the pool.
const fetchKeepPartitions = 1 << 14

// getFetch returns a pooled fetch sized for parts partitions in topics
// topics.
func getFetch(b *Broker, r *kmsg.FetchRequest, topics, parts int) *fetch {
	f := fetchPool.Get().(*fetch)
	f.b, f.req, f.replica = b, r, replicaOf(r)
	// A follower reads up to the log end, whatever the flush policy.
	f.durable = b.cfg.FlushPolicy == flush.Durable && f.replica < 0
	f.parts = slices.Grow(f.parts[:0], parts)[:parts]
	f.topics = slices.Grow(f.topics[:0], topics)[:topics]
	return f
}

// newFetch resolves the request's partitions and reads them once.
func newFetch(b *Broker, r *kmsg.FetchRequest) *fetch {
	n := 0
	for i := range r.Topics {
		n += len(r.Topics[i].Partitions)
	}
	f := getFetch(b, r, len(r.Topics), n)
	n = 0
	for i := range r.Topics {
		rt := &r.Topics[i]
		ft := &f.topics[i]
		ft.name, ft.id = rt.Topic, rt.TopicID
		ft.parts = f.parts[n : n+len(rt.Partitions)]
		n += len(rt.Partitions)
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			fp := &ft.parts[j]
			fp.index, fp.offset, fp.maxBytes = rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes
			fp.currentLeaderEpoch, fp.lastFetchedEpoch = rp.CurrentLeaderEpoch, rp.LastFetchedEpoch
		}
	}
	f.resolve()
	f.read()
	return f
}

// newSessionFetch is newFetch for an incremental fetch, without the read:
// every partition of session s (locked by the caller), in the session's
// order, consecutive partitions of one topic making one response topic.
func newSessionFetch(b *Broker, r *kmsg.FetchRequest, s *fetchSession) *fetch {
	// startsTopic: the session's partition i begins a response topic.
	startsTopic := func(i int) bool {
		return i == 0 || s.parts[i].key.topic != s.parts[i-1].key.topic || s.parts[i].key.id != s.parts[i-1].key.id
	}
	topics := 0
	for i := range s.parts {
		if startsTopic(i) {
			topics++
		}
	}
	f := getFetch(b, r, topics, len(s.parts))
	f.session = s
	t := -1
	for i, sp := range s.parts {
		if startsTopic(i) {
			t++
			f.topics[t] = fetchTopic{name: sp.key.topic, id: sp.key.id, parts: f.parts[i:i]}
		}
		ft := &f.topics[t]
		ft.parts = ft.parts[:len(ft.parts)+1]
		fp := &ft.parts[len(ft.parts)-1]
		fp.index, fp.offset, fp.maxBytes, fp.sp = sp.key.partition, sp.fetchOffset, sp.maxBytes, sp
		fp.currentLeaderEpoch, fp.lastFetchedEpoch = sp.leaderEpoch, sp.lastFetched
	}
	f.resolve()
	return f
}

// resolve finds the partitions' logs: topics by id from v13, by name
// before. A partition the metadata image places on another broker is
// errNotLeader (routing.go). In an incremental fetch, a partition whose
// last read stands (reusable) keeps it and is not looked up.
func (f *fetch) resolve() {
	img, table := f.b.image(), f.b.table.Load()
	f.img, f.table = img, table
	byID := f.req.Version >= 13
	for i := range f.topics {
		ft := &f.topics[i]
		it := imageTopic(img, ft.name, ft.id, byID)
		var topicErr error
		if byID {
			if it != nil {
				ft.name = it.Name()
			} else if t := f.b.topicByID(ft.id); t != nil {
				ft.name = t.name
			} else {
				topicErr = kerr.UnknownTopicID
			}
		}
		for j := range ft.parts {
			fp := &ft.parts[j]
			if fp.sp != nil && f.reusable(fp) {
				continue
			}
			fp.p, fp.err = nil, topicErr
			if fp.err != nil {
				continue
			}
			if hint, ok := f.b.ledElsewhere(it, fp.index); ok && !f.readsFromFollower(it, fp.index) {
				fp.err, fp.leader, f.redirectImage = errNotLeader, hint, img
				continue
			}
			if fp.err = checkLeaderEpoch(it, fp.index, fp.currentLeaderEpoch); fp.err != nil {
				continue
			}
			fp.p, fp.err = table.partition(ft.name, fp.index)
		}
	}
}

// reusable reports whether the session's last read of fp's partition
// (sessionPart.last) is what reading it now would give, and if so makes it
// fp's, unread (reused). That is so when the last read found nothing to
// read at the offset the session now asks for, with no error, redirection
// or preferred replica, and nothing the read depended on has changed
// since: the metadata image, the topic table, the request's offset, limit
// and leader epoch, and the log (no change counted since, its directory
// not failed). A consumer of 10,000 partitions then reads the partitions
// that changed, not all of them, on each fetch (issue 16). The response
// leaves fp out, as it would a read that found the same watermarks. A
// follower's fetch, whose reads record its progress, and a fetch whose
// replica selector picks replicas (a choice that moves with time), read
// everything. The caller holds the session's lock.
func (f *fetch) reusable(fp *fetchPart) bool {
	sp, last := fp.sp, &fp.sp.last
	if f.replica >= 0 || last.p == nil || last.img != f.img || last.table != f.table ||
		last.offset != fp.offset || last.maxBytes != fp.maxBytes || last.leaderEpoch != fp.currentLeaderEpoch ||
		f.changes(last.p.log) != last.changes || last.p.dir.dir.Failed() != nil || f.selectsReplica() {
		return false
	}
	fp.p, fp.err, fp.changes, fp.reused = last.p, nil, last.changes, true
	fp.header = fetchPartitionHeader{Partition: fp.index, HighWatermark: sp.highWatermark, LastStableOffset: sp.highWatermark, LogStartOffset: sp.logStartOffset}
	return true
}

// lastRead is what the session keeps of fp's read, for the next
// incremental fetch (reusable).
func (f *fetch) lastRead(fp *fetchPart) sessionRead {
	h := &fp.header
	// quiet: the read found nothing to read at its offset, which is at
	// the end of what a consumer may read (a read that returned nothing
	// for want of room in the response is not quiet: its records must be
	// read again); and it has nothing else to answer.
	quiet := fp.p != nil && fp.err == nil && fp.read.Range.Size == 0 && !fp.starved && fp.offset >= h.HighWatermark &&
		h.ErrorCode == 0 && !h.Redirect && !h.Preferred && !h.Diverging
	if !quiet {
		return sessionRead{}
	}
	return sessionRead{p: fp.p, img: f.img, table: f.table, changes: fp.changes,
		offset: fp.offset, maxBytes: fp.maxBytes, leaderEpoch: fp.currentLeaderEpoch}
}

// read reads every partition within the limits, replacing what an earlier
// read held.
func (f *fetch) read() {
	f.release()
	f.bytes, f.hasError = 0, false
	for i := range f.parts {
		if !f.parts[i].reused {
			f.readPart(&f.parts[i])
		}
	}
}

// reread reads partition i again, in place of what it held, within what
// the other partitions' reads leave of the response's limit; the one
// whole batch a response may exceed its limits by goes to it if no other
// partition holds records. A long poll rereads the partitions whose logs
// changed: the others hold what they held.
func (f *fetch) reread(i int) {
	fp := &f.parts[i]
	f.bytes -= fp.read.Range.Size
	fp.read.Release()
	fp.read = segment.ReadResult{}
	f.readPart(fp)
}

// refresh makes the fetch's reads what a full read would make them now,
// reading again only the partitions where that could differ: those whose
// logs changed since their last read, those that hold records (the
// response's limit is shared out again, in order) or were left out by it,
// and those answered with an error or a redirection. A partition that read
// nothing, with no error, from a log that has not changed since would read
// nothing again, with the same watermarks: its read is kept. A consumer's
// long poll refreshes before it answers, as Kafka's delayed fetch reads
// every partition when it completes: the response holds all that is ready,
// not only what woke the fetch.
func (f *fetch) refresh() {
	f.bytes, f.hasError = 0, false
	for i := range f.parts {
		fp := &f.parts[i]
		h := &fp.header
		if fp.p != nil && fp.err == nil && fp.read.Range.Size == 0 && !fp.starved &&
			h.ErrorCode == 0 && !h.Redirect && !h.Preferred && !h.Diverging && f.changes(fp.p.log) == fp.changes {
			continue
		}
		fp.read.Release()
		fp.read = segment.ReadResult{}
		f.readPart(fp)
	}
}

// responseLimit is the response's MaxBytes (none before v3).
func (f *fetch) responseLimit() int64 {
	limit := int64(f.req.MaxBytes)
	if f.req.Version < 3 || limit <= 0 {
		limit = 1<<31 - 1
	}
	return limit
}

// readPart reads fp, which holds no read, within its PartitionMaxBytes and
// what the response's limit leaves after f.bytes, adding what it read to
// f.bytes. The first partition with records (f.bytes still 0) gets at
// least one whole batch.
func (f *fetch) readPart(fp *fetchPart) {
	fp.header = fetchPartitionHeader{Partition: fp.index, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}
	fp.throttle, fp.reused = nil, false
	if fp.err != nil {
		fp.header.ErrorCode = errCode(fp.err)
		if fp.err == errNotLeader && f.req.Version >= 16 {
			fp.header.Redirect, fp.header.CurrentLeader = true, fp.leader
		}
		f.hasError = true
		return
	}
	// The log's change count before the read: a long poll that finds it
	// moved when it starts watching reads the partition again.
	fp.changes = f.changes(fp.p.log)
	if f.replica >= 0 && !f.replicaMayRead(fp) { // the header says why: an error or a divergence
		f.hasError = true
		return
	}
	if f.replica < 0 && f.sendsElsewhere(fp) { // the header names the replica to read from
		f.hasError = true
		return
	}
	log := fp.p.log
	limit := min(int64(fp.maxBytes), f.responseLimit()-f.bytes)
	var rr segment.ReadResult
	var err error
	// A throttled partition is answered with no records, as is one
	// past a full response's limit.
	held := f.replica >= 0 && f.leaderThrottled(fp)
	fp.starved = !held && limit <= 0 && f.bytes != 0
	if !held && !fp.starved {
		// A consumer of a replicated partition reads up to the high
		// watermark; a follower reads the whole log.
		upToHW := f.replica < 0 && fp.p.replicated.Load()
		rr, err = log.Read(fp.offset, int(max(limit, 0)), segment.ReadOptions{DurableOnly: f.durable && !upToHW, UpToHighWatermark: upToHW, MinOneBatch: f.bytes == 0})
	}
	if err != nil && f.outOfRangeOnFollower(fp, err) {
		err = nil
	}
	// The watermarks after the read, so that they cover what it found.
	hw := f.b.highWatermark(fp.p)
	fp.header.HighWatermark, fp.header.LastStableOffset, fp.header.LogStartOffset = hw, hw, log.StartOffset()
	if err != nil {
		fp.header = fetchPartitionHeader{Partition: fp.index, ErrorCode: errCode(err), HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}
		f.hasError = true
		if c := fp.header.ErrorCode; (c == kerr.UnknownServerError.Code || c == kerr.KafkaStorageError.Code) && !loggedElsewhere(err) {
			f.b.logger.Error("fetch read failed", "topic", fp.p.topic, "partition", fp.index, "offset", fp.offset, "err", err)
		}
		return
	}
	if f.replica >= 0 && !f.followerFetched(fp) { // the header says why
		rr.Release()
		f.hasError = true
		return
	}
	fp.read = rr
	f.bytes += rr.Range.Size
}

// highWatermark is the offset consumers may read up to: for a replicated
// partition the log's high watermark (which its leader sets), else the
// flushed offset under the durable flush policy and the log end offset
// under the interval policy.
func (b *Broker) highWatermark(p *partition) int64 {
	l := p.log
	if p.replicated.Load() {
		return l.HighWatermark()
	}
	if b.cfg.FlushPolicy == flush.Durable {
		return l.FlushedOffset()
	}
	return l.EndOffset()
}

// ready reports whether the fetch can be answered now.
func (f *fetch) ready() bool {
	return f.hasError || f.bytes >= int64(f.req.MinBytes)
}

// longPoll waits until the fetch is ready, maxWait has passed or the broker
// closes, reading again the partitions whose logs change.
//
// One WakeSet watches every log, each partition under its index in
// f.parts, so that a wake-up names the partitions that changed and only
// those are read again to decide whether the fetch is ready: a consumer of
// 10,000 partitions woken by a batch on one of them reads one, not 10,000.
// The others keep the read they had, whose records, watermarks and log
// start offset no change has made stale (a log wakes its watchers on each).
// A partition whose log changed between the fetch's read and the
// registration has another change count: it is read again too. Once ready,
// or when the wait is over, the fetch refreshes (refresh: what a full read
// would give, reading only the partitions where it could differ) and
// answers.
//
// A follower's fetch reads every partition again at each wake-up and at
// the end, as before: its reads record the follower's progress (ISR, high
// watermark) and its throttle changes without its logs.
func (f *fetch) longPoll(maxWait time.Duration) {
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	wake := f.wakeSet()
	watch, unwatch := (*segment.Log).WatchTagged, (*segment.Log).UnwatchTagged
	if f.durable {
		watch, unwatch = (*segment.Log).WatchTaggedNoAppends, (*segment.Log).UnwatchTaggedNoAppends
	}
	for i := range f.parts {
		if p := f.parts[i].p; p != nil {
			watch(p.log, wake, i)
		}
	}
	defer func() {
		for i := len(f.parts) - 1; i >= 0; i-- { // the reverse order: each is found at once
			if p := f.parts[i].p; p != nil {
				unwatch(p.log, wake, i)
			}
		}
	}()
	if f.replica >= 0 {
		f.read()
	} else {
		for i := range f.parts {
			if fp := &f.parts[i]; fp.p != nil && f.changes(fp.p.log) != fp.changes {
				wake.Mark(i)
			}
		}
		wake.Take(f.reread)
	}
	for !f.ready() {
		f.b.parkedFetches.Add(1)
		woken := false
		select {
		case <-wake.C:
			woken = true
		case <-timer.C: // time is up: answer with what there is
		case <-f.b.done:
		}
		f.b.parkedFetches.Add(-1)
		if !woken {
			break
		}
		f.b.fetchWakeups.Add(1)
		if f.replica >= 0 {
			wake.Take(func(int) {})
			f.read()
		} else {
			wake.Take(f.reread)
		}
	}
	if f.replica >= 0 {
		f.read()
	} else {
		f.refresh()
	}
}

// changes is l's count of the changes that may change what the fetch
// reads from it: under the durable policy a consumer's reads stop at the
// flushed offset or the high watermark, which no append moves.
func (f *fetch) changes(l *segment.Log) uint64 {
	if f.durable {
		return l.ChangesNoAppends()
	}
	return l.Changes()
}

// wakeSet returns the fetch's WakeSet, sized for its partitions, with no
// marks and no wake-up pending.
func (f *fetch) wakeSet() *segment.WakeSet {
	if f.wake == nil || f.wakeTags < len(f.parts) {
		f.wake, f.wakeTags = segment.NewWakeSet(len(f.parts)), len(f.parts)
		return f.wake
	}
	f.wake.Take(func(int) {})
	select {
	case <-f.wake.C:
	default:
	}
	return f.wake
}

// answer finishes rep with a response framed from the last read; the frame
// takes over the read results.
func (f *fetch) answer(rep *reply) {
	var sessionID int32
	switch {
	case f.session != nil:
		sessionID = f.session.id
		f.session.mu.Lock()
		for i := range f.parts {
			fp := &f.parts[i]
			if fp.reused { // its last read stands: nothing to send, nothing new to keep
				fp.skip = true
				continue
			}
			fp.skip = !fp.sp.mustRespond(fp.header, fp.read.Range.Size > 0)
			fp.sp.last = f.lastRead(fp)
		}
		f.session.reorder()
		f.session.mu.Unlock()
	case f.newSession:
		sessionID = f.createSession()
	}
	topics := 0
	for i := range f.topics {
		if f.topics[i].answered() > 0 {
			topics++
		}
	}
	fr := newFetchFrame()
	fr.begin(f.req.Version, 0, 0, sessionID, topics)
	if f.redirectImage != nil && f.req.Version >= 16 {
		var leaders []int32
		for i := range f.parts {
			if fp := &f.parts[i]; !fp.skip && fp.header.Redirect {
				leaders = addLeader(leaders, fp.leader.leader)
			}
		}
		f.b.eachEndpoint(f.redirectImage, leaders, func(id int32, host string, port int32, rack *string) {
			fr.nodeEndpoints(kmsg.FetchResponseBroker{NodeID: id, Host: host, Port: port, Rack: rack})
		})
	}
	for i := range f.topics {
		ft := &f.topics[i]
		if n := ft.answered(); n > 0 {
			fr.beginTopic(ft.name, ft.id, n)
		}
		for j := range ft.parts {
			fp := &ft.parts[j]
			if fp.skip {
				fp.read.Release()
				fp.read = segment.ReadResult{}
				continue
			}
			if fp.read.Range.Size > 0 {
				if fp.throttle != nil {
					fp.throttle.Record(int(fp.read.Range.Size))
				}
				fr.hold(fp.read)
			} else {
				fp.read.Release()
			}
			fr.partition(fp.header, fp.read.Range)
			fp.read = segment.ReadResult{}
		}
	}
	if f.replica >= 0 {
		f.b.metrics.replicationBytesOut.Add(float64(fr.fileBytes))
	}
	if err := fr.end(); err != nil {
		// A response too large to frame: only a topic whose
		// max.message.bytes is near 2 GiB can get here.
		f.b.logger.Error("fetch response cannot be framed", "err", err)
		fr.release()
		resp := f.req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.UnknownServerError.Code
		rep.finish(resp)
		return
	}
	rep.finishFrame(fr)
}

// answered is how many of the topic's partitions the response holds.
func (ft *fetchTopic) answered() int {
	n := 0
	for i := range ft.parts {
		if !ft.parts[i].skip {
			n++
		}
	}
	return n
}

// createSession opens a session of the fetch's partitions (a full fetch
// with epoch 0), holding what the response sends about them, and returns
// its id; 0 when the cache has no room. A partition named twice is kept
// once, at its first place, with its last fetch state.
func (f *fetch) createSession() int32 {
	topicIDs := f.req.Version >= 13
	parts := make([]*sessionPart, 0, len(f.parts))
	index := make(map[sessionKey]*sessionPart, len(f.parts))
	for i := range f.topics {
		ft := &f.topics[i]
		for j := range ft.parts {
			fp := &ft.parts[j]
			key := sessionKey{topic: ft.name, partition: fp.index}
			if topicIDs {
				key = sessionKey{id: ft.id, partition: fp.index}
			}
			sp := index[key]
			if sp == nil {
				sp = &sessionPart{key: key}
				index[key] = sp
				parts = append(parts, sp)
			}
			sp.fetchOffset, sp.maxBytes, sp.leaderEpoch, sp.lastFetched = fp.offset, fp.maxBytes, fp.currentLeaderEpoch, fp.lastFetchedEpoch
			sp.highWatermark, sp.logStartOffset = -1, -1
			sp.mustRespond(fp.header, false)
			sp.last = f.lastRead(fp)
		}
	}
	return f.b.fetchSessions.create(topicIDs, f.replica >= 0, parts, index)
}

// release lets go of the reads of the last read that no frame took.
func (f *fetch) release() {
	for i := range f.parts {
		f.parts[i].read.Release() // does nothing on an empty result
	}
}

// free returns the fetch to the pool once it is answered.
func (f *fetch) free() {
	f.release()
	if len(f.parts) > fetchKeepPartitions {
		return
	}
	clear(f.parts)
	clear(f.topics)
	*f = fetch{parts: f.parts[:0], topics: f.topics[:0], wake: f.wake, wakeTags: f.wakeTags}
	fetchPool.Put(f)
}

// Fetch session epochs with a meaning of their own (KIP-227): a full fetch
// that opens a new session, and a full fetch without one.
const (
	fetchSessionInitialEpoch = 0
	fetchSessionFinalEpoch   = -1
)

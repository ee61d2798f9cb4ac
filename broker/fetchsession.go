package broker

// Fetch sessions (KIP-227, incremental fetch requests), as Kafka's
// FetchSession.scala keeps them.
//
// A consumer of many partitions would otherwise send all of them in every
// Fetch and get all of them back, most with nothing new. With a session the
// broker remembers the partitions and what it last told the client about
// each, so that a request lists only what changed and a response only what
// is new.
//
// By (SessionId, SessionEpoch), for versions 7 and up:
//
//   - epoch 0: a full fetch that asks for a session. A session the id names
//     is closed; a new one is created with the request's partitions (if the
//     cache has room, else the answer carries session id 0 and the client
//     keeps sending full fetches). Every partition is answered.
//   - epoch -1: a full fetch without a session; a session the id names is
//     closed. Answered with session id 0.
//   - epoch n > 0: an incremental fetch of session id. The request's
//     partitions are added to the session or update its fetch state (fetch
//     offset, max bytes), ForgottenTopics are removed from it, and every
//     partition of the session is read. The response holds only the
//     partitions with records, a high watermark or log start offset other
//     than the session last sent, or an error (Kafka's
//     CachedPartition.maybeUpdateResponseData). Unknown id:
//     FETCH_SESSION_ID_NOT_FOUND; an epoch other than the session's next:
//     INVALID_FETCH_SESSION_EPOCH; a session made with topic ids (v13+)
//     used with names or the reverse: FETCH_SESSION_TOPIC_ID_ERROR. A
//     session left with no partitions is closed, and the request answered
//     as a full fetch without one.
//
// Partitions that were answered with records go to the end of the session's
// order, which is also the reading order, so that under a response MaxBytes
// every partition gets its turn.
//
// A consumer's incremental fetch reads only the partitions where a read
// could give something other than the session's last: a partition whose
// last read found nothing at the end of what a consumer may read, at the
// offset still asked, keeps that read while its log counts no change and
// the metadata image and topic table are the same (fetch.reusable). Such a
// partition would be left out of the response anyway; at 10,000 partitions
// the reads of all of them on every fetch were a fifth of the broker's CPU
// (issue 16).
//
// Sessions are the broker's, not a connection's (as in Kafka: a client may
// reconnect and go on). The cache holds at most
// max.incremental.fetch.session.cache.slots sessions. When it is full, a new
// session takes the place of the least recently used one if that one has
// not been used for min.incremental.fetch.session.eviction.ms; else that of
// the evictable session with the fewest partitions, if the new one has more
// (a session becomes evictable once it has lived for that long, checked when
// it is used); else it is not created.
//
// A follower's session (a replica fetch's, Kafka's privileged session) is
// worth more than any consumer's, as in Kafka's FetchSessionCache: a
// follower's new session may take the place of any consumer's session, even
// a young one, before a follower's (the evictable one with the fewest
// partitions among consumers' sessions and the followers' that have lived
// long enough); a consumer's never takes a follower's unless that one is
// stale. So a cache full of consumers does not make followers fall back to
// full fetches, and consumers cannot make them thrash.

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
)

// Kafka's defaults for the fetch session cache.
const (
	defaultFetchSessionCacheSlots    = 1000
	defaultFetchSessionEvictionAfter = 2 * time.Minute
)

// fetchSessionCache is the broker's fetch sessions. Lock order: the cache's
// mu, then a session's.
type fetchSessionCache struct {
	maxSlots      int
	evictionAfter time.Duration
	now           func() time.Time

	mu         sync.Mutex
	sessions   map[int32]*fetchSession
	partitions int   // partitions held by all sessions, as of their last use
	evictions  int64 // sessions evicted to make room, ever
}

func newFetchSessionCache(maxSlots int, evictionAfter time.Duration) *fetchSessionCache {
	return &fetchSessionCache{maxSlots: maxSlots, evictionAfter: evictionAfter, now: time.Now, sessions: map[int32]*fetchSession{}}
}

// fetchSession is one client's session: its partitions in reading order and
// what the broker last sent about each.
type fetchSession struct {
	id         int32
	topicIDs   bool // made by a v13+ request: partitions are keyed by topic id
	privileged bool // a follower's (replica fetches)
	created    time.Time

	// Guarded by the cache's mu.
	lastUsed  time.Time
	size      int  // len(parts) at the last use
	evictable bool // had lived evictionAfter at the last use

	mu    sync.Mutex
	epoch int32 // the epoch the next incremental request must carry
	parts []*sessionPart
	index map[sessionKey]*sessionPart
}

// sessionKey names a session's partition: by topic id in a v13+ session,
// by topic name before.
type sessionKey struct {
	topic     string
	id        [16]byte
	partition int32
}

// sessionPart is one partition of a session: the client's fetch state and
// the watermarks the broker last sent (-1: none yet, or an error was sent,
// so the partition is sent again once it recovers).
type sessionPart struct {
	key            sessionKey
	fetchOffset    int64
	leaderEpoch    int32 // the request's CurrentLeaderEpoch (-1: none)
	lastFetched    int32 // the request's LastFetchedEpoch (-1: none), for a follower's divergence check
	maxBytes       int32
	highWatermark  int64
	logStartOffset int64
	// moved: answered with records by the response being built; goes to
	// the end of the session's order.
	moved bool
	// last: the last answer's read of the partition, when it was quiet
	// (fetch.lastRead), for the next fetch to reuse (fetch.reusable).
	last sessionRead
}

// sessionRead is a quiet read of a session's partition and what it
// depended on: the partition, the metadata image and topic
// table it was found in, the log's change count before the read, and the
// request's offset, limit and leader epoch. The zero value (p nil) is no
// read to reuse.
type sessionRead struct {
	p           *partition
	img         *metadata.Image
	table       *topicTable
	changes     uint64
	offset      int64
	maxBytes    int32
	leaderEpoch int32
}

// nextFetchEpoch follows epoch n; after MaxInt32 comes 1 (0 opens a session).
func nextFetchEpoch(n int32) int32 {
	if n == math.MaxInt32 {
		return 1
	}
	return n + 1
}

// remove closes session id, if there is one.
func (c *fetchSessionCache) remove(id int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sessions[id]; s != nil {
		c.removeLocked(s)
	}
}

func (c *fetchSessionCache) removeLocked(s *fetchSession) {
	delete(c.sessions, s.id)
	c.partitions -= s.size
}

// touchLocked records a use of s at now: its place in the LRU order, its
// size and whether it may be evicted for a larger session.
func (c *fetchSessionCache) touchLocked(s *fetchSession, now time.Time) {
	s.lastUsed = now
	c.partitions += len(s.parts) - s.size
	s.size = len(s.parts)
	s.evictable = now.Sub(s.created) > c.evictionAfter
}

// create makes a session of parts (in order, keyed as topicIDs says, index
// mapping their keys to them; privileged: a follower's) and returns its id,
// or 0 when the cache has no room for it.
func (c *fetchSessionCache) create(topicIDs, privileged bool, parts []*sessionPart, index map[sessionKey]*sessionPart) int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.maxSlots <= 0 || len(c.sessions) >= c.maxSlots && !c.evictFor(privileged, len(parts), now) {
		return 0
	}
	var id int32
	for id == 0 || c.sessions[id] != nil {
		id = rand.Int32N(math.MaxInt32) + 1
	}
	s := &fetchSession{id: id, topicIDs: topicIDs, privileged: privileged, created: now, epoch: 1, parts: parts, index: index}
	c.sessions[id] = s
	c.touchLocked(s, now)
	return id
}

// evictFor makes room for a new session of size partitions (privileged: a
// follower's), by Kafka's rules (FetchSessionCache.tryEvict): the least
// recently used session if it is stale; else the least valuable session
// the newcomer may take the place of, if the newcomer is worth more. Worth
// is (privileged, partitions), in that order; a follower may take the place
// of any consumer's session and of an evictable follower's, a consumer only
// of an evictable session. It reports whether it evicted one.
func (c *fetchSessionCache) evictFor(privileged bool, size int, now time.Time) bool {
	var lru, cheapest *fetchSession
	for _, s := range c.sessions {
		if lru == nil || s.lastUsed.Before(lru.lastUsed) || s.lastUsed.Equal(lru.lastUsed) && s.id < lru.id {
			lru = s
		}
		if (s.evictable || privileged && !s.privileged) && (cheapest == nil || s.worthLess(cheapest)) {
			cheapest = s
		}
	}
	victim := cheapest
	if lru != nil && now.Sub(lru.lastUsed) > c.evictionAfter {
		victim = lru
	} else if cheapest == nil || !(&fetchSession{privileged: privileged, size: size}).worthMore(cheapest) {
		return false
	}
	c.removeLocked(victim)
	c.evictions++
	return true
}

// worthLess orders sessions for eviction as Kafka's EvictableKey: a
// consumer's before a follower's, then fewer partitions, then the lower id.
func (s *fetchSession) worthLess(o *fetchSession) bool {
	switch {
	case s.worthMore(o):
		return false
	case o.worthMore(s):
		return true
	}
	return s.id < o.id
}

// worthMore reports whether s is worth more than o, ids aside.
func (s *fetchSession) worthMore(o *fetchSession) bool {
	if s.privileged != o.privileged {
		return s.privileged
	}
	return s.size > o.size
}

// stats returns the open sessions, the partitions they hold and the
// evictions so far (for /metrics).
func (c *fetchSessionCache) stats() (sessions, partitions int, evictions int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions), c.partitions, c.evictions
}

// incremental applies an incremental request to its session and returns
// the session, locked, for the fetch to be built from; or the error to
// answer with. A session left empty is closed and (nil, nil) returned: the
// request is then served as a full fetch without a session.
func (c *fetchSessionCache) incremental(r *kmsg.FetchRequest) (*fetchSession, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[r.SessionID]
	if s == nil {
		return nil, kerr.FetchSessionIDNotFound
	}
	s.mu.Lock()
	if s.epoch != r.SessionEpoch {
		s.mu.Unlock()
		return nil, kerr.InvalidFetchSessionEpoch
	}
	if s.topicIDs != (r.Version >= 13) {
		s.mu.Unlock()
		return nil, kerr.FetchSessionTopicIDError
	}
	for i := range r.Topics {
		rt := &r.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			key := s.keyOf(rt.Topic, rt.TopicID, rp.Partition)
			if sp := s.index[key]; sp != nil {
				sp.fetchOffset, sp.maxBytes, sp.leaderEpoch, sp.lastFetched = rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch
				continue
			}
			sp := &sessionPart{key: key, fetchOffset: rp.FetchOffset, leaderEpoch: rp.CurrentLeaderEpoch, lastFetched: rp.LastFetchedEpoch, maxBytes: rp.PartitionMaxBytes, highWatermark: -1, logStartOffset: -1}
			s.index[key] = sp
			s.parts = append(s.parts, sp)
		}
	}
	forgot := false
	for i := range r.ForgottenTopics {
		ft := &r.ForgottenTopics[i]
		for _, p := range ft.Partitions {
			key := s.keyOf(ft.Topic, ft.TopicID, p)
			if s.index[key] != nil {
				delete(s.index, key)
				forgot = true
			}
		}
	}
	if forgot {
		s.parts = slices.DeleteFunc(s.parts, func(sp *sessionPart) bool { return s.index[sp.key] != sp })
	}
	if len(s.parts) == 0 {
		s.mu.Unlock()
		c.removeLocked(s)
		return nil, nil
	}
	c.touchLocked(s, c.now())
	s.epoch = nextFetchEpoch(s.epoch)
	return s, nil
}

// keyOf is the key of a partition named by a request to this session.
func (s *fetchSession) keyOf(topic string, id [16]byte, partition int32) sessionKey {
	if s.topicIDs {
		return sessionKey{id: id, partition: partition}
	}
	return sessionKey{topic: topic, partition: partition}
}

// mustRespond reports whether an incremental response includes a partition
// whose read gave h and records (Kafka's maybeUpdateResponseData), and
// records in sp what is sent. The caller holds the session's lock.
func (sp *sessionPart) mustRespond(h fetchPartitionHeader, records bool) bool {
	must := records
	if sp.highWatermark != h.HighWatermark {
		must, sp.highWatermark = true, h.HighWatermark
	}
	if sp.logStartOffset != h.LogStartOffset {
		must, sp.logStartOffset = true, h.LogStartOffset
	}
	if h.ErrorCode != 0 {
		must, sp.highWatermark = true, -1
	}
	if h.Preferred || h.Diverging { // as Kafka's CachedPartition: always sent
		must = true
	}
	if records {
		sp.moved = true
	}
	return must
}

// reorder moves the partitions answered with records to the end of the
// session's order, keeping the order within both groups. The caller holds
// the session's lock.
func (s *fetchSession) reorder() {
	if !slices.ContainsFunc(s.parts, func(sp *sessionPart) bool { return sp.moved }) {
		return
	}
	var moved []*sessionPart
	kept := s.parts[:0]
	for _, sp := range s.parts {
		if sp.moved {
			sp.moved = false
			moved = append(moved, sp)
		} else {
			kept = append(kept, sp)
		}
	}
	s.parts = append(kept, moved...)
}

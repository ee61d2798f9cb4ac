package broker

// Fetch, versions 4 through 18 (v0-v3 carry the old message formats).
//
// Session-less, by KIP-227's rules for (SessionId, SessionEpoch): epoch -1
// is a full fetch without a session and epoch 0 a full fetch that asks for
// a new one, whatever the id (a full fetch closes the session it names, and
// there is none to close). Both are answered with session id 0, which tells
// the client that the broker keeps no session, so it keeps sending full
// fetches (franz-go, librdkafka and the Java client all handle this; a busy
// Kafka broker answers the same when its session cache is full). Any other
// epoch is an incremental fetch of a session this broker does not have:
// FETCH_SESSION_ID_NOT_FOUND, with no topics.
//
// Every requested partition is answered, in request order. Records come
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
// the fetch waits on the partitions' segment.Log.Changed signals (an append,
// or under the durable policy a flush, closes it) until enough bytes are
// ready or the wait is over; then it reads again and answers. An error on
// any partition answers at once. The wait runs on its own goroutine; the
// connection keeps reading and starting the requests behind it (their
// answers follow this one, in order).
//
// Visibility: the high watermark is the flushed offset under the durable
// flush policy (a consumer never sees what a crash could take back) and the
// log end offset under the interval policy. There are no transactions, so
// the last stable offset is the high watermark and aborted transactions are
// always null.

import (
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

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
	if r.Version >= 7 && r.SessionEpoch != fetchSessionInitialEpoch && r.SessionEpoch != fetchSessionFinalEpoch {
		resp := r.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		rep.finish(resp)
		return rep
	}
	f := newFetch(b, r)
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
	topics  []fetchTopic
	parts   []fetchPart // all topics' partitions, in request order
	// bytes read by the last read, and whether some partition has an error
	// (which answers at once).
	bytes    int64
	hasError bool
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

	header fetchPartitionHeader
	read   segment.ReadResult // empty, or a range holding its segment
}

var fetchPool = sync.Pool{New: func() any { return new(fetch) }}

// Fetches with more partitions than this are not kept in the pool.
const fetchKeepPartitions = 1 << 14

// newFetch resolves the request's partitions and reads them once.
func newFetch(b *Broker, r *kmsg.FetchRequest) *fetch {
	f := fetchPool.Get().(*fetch)
	f.b, f.req, f.durable = b, r, b.cfg.FlushPolicy == flush.Durable
	n := 0
	for i := range r.Topics {
		n += len(r.Topics[i].Partitions)
	}
	f.parts = slices.Grow(f.parts[:0], n)[:n]
	f.topics = slices.Grow(f.topics[:0], len(r.Topics))[:len(r.Topics)]
	n = 0
	for i := range r.Topics {
		rt := &r.Topics[i]
		ft := &f.topics[i]
		ft.name, ft.id = rt.Topic, rt.TopicID
		var topicErr error
		if r.Version >= 13 {
			if t := b.topicByID(rt.TopicID); t != nil {
				ft.name = t.name
			} else {
				topicErr = kerr.UnknownTopicID
			}
		}
		ft.parts = f.parts[n : n+len(rt.Partitions)]
		n += len(rt.Partitions)
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			fp := &ft.parts[j]
			fp.index, fp.offset, fp.maxBytes, fp.err = rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, topicErr
			if fp.err == nil {
				fp.p, fp.err = b.partition(ft.name, rp.Partition)
			}
		}
	}
	f.read()
	return f
}

// read reads every partition within the limits, replacing what an earlier
// read held.
func (f *fetch) read() {
	f.release()
	f.bytes, f.hasError = 0, false
	left := int64(f.req.MaxBytes)
	if f.req.Version < 3 || left <= 0 {
		left = 1<<31 - 1
	}
	for i := range f.parts {
		fp := &f.parts[i]
		fp.header = fetchPartitionHeader{Partition: fp.index, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}
		if fp.err != nil {
			fp.header.ErrorCode = errCode(fp.err)
			f.hasError = true
			continue
		}
		log := fp.p.log
		limit := min(int64(fp.maxBytes), left)
		var rr segment.ReadResult
		var err error
		if limit > 0 || f.bytes == 0 { // else the response is full; the partition is still answered
			rr, err = log.Read(fp.offset, int(max(limit, 0)), segment.ReadOptions{DurableOnly: f.durable, MinOneBatch: f.bytes == 0})
		}
		// The watermarks after the read, so that they cover what it found.
		hw := f.b.highWatermark(log)
		fp.header.HighWatermark, fp.header.LastStableOffset, fp.header.LogStartOffset = hw, hw, log.StartOffset()
		if err != nil {
			fp.header = fetchPartitionHeader{Partition: fp.index, ErrorCode: errCode(err), HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}
			f.hasError = true
			if c := fp.header.ErrorCode; (c == kerr.UnknownServerError.Code || c == kerr.KafkaStorageError.Code) && !loggedElsewhere(err) {
				f.b.logger.Error("fetch read failed", "topic", fp.p.topic, "partition", fp.index, "offset", fp.offset, "err", err)
			}
			continue
		}
		fp.read = rr
		f.bytes += rr.Range.Size
		left -= rr.Range.Size
	}
}

// highWatermark is the offset consumers may read up to: the flushed offset
// under the durable flush policy, the log end offset under the interval
// policy.
func (b *Broker) highWatermark(l *segment.Log) int64 {
	if b.cfg.FlushPolicy == flush.Durable {
		return l.FlushedOffset()
	}
	return l.EndOffset()
}

// ready reports whether the fetch can be answered now.
func (f *fetch) ready() bool {
	return f.hasError || f.bytes >= int64(f.req.MinBytes)
}

// maxWatchedLogs bounds the logs one waiting fetch watches: reflect.Select
// takes at most 65536 cases. A fetch of more distinct partitions than that
// (many topics) waits out its time instead of waking on data.
const maxWatchedLogs = 1 << 15

// longPoll waits until the fetch is ready, maxWait has passed or the broker
// closes, re-reading whenever a partition's log changes.
func (f *fetch) longPoll(maxWait time.Duration) {
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	logs := f.watchedLogs()
	cases := make([]reflect.SelectCase, 2, 2+len(logs))
	cases[0] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)}
	cases[1] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(f.b.done)}
	for {
		// Take the signals before reading again, so that a change between
		// the read and the wait is not missed.
		cases = cases[:2]
		for _, l := range logs {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(l.Changed())})
		}
		f.read()
		if f.ready() {
			return
		}
		f.b.parkedFetches.Add(1)
		chosen, _, _ := reflect.Select(cases)
		f.b.parkedFetches.Add(-1)
		if chosen < 2 {
			f.read() // time is up (or closing): answer with what there is
			return
		}
	}
}

// watchedLogs are the distinct logs of the fetch's partitions (a request
// may name a partition many times), nil when there are too many to watch.
func (f *fetch) watchedLogs() []*segment.Log {
	seen := make(map[*segment.Log]bool, len(f.parts))
	var logs []*segment.Log
	for i := range f.parts {
		if fp := &f.parts[i]; fp.p != nil && !seen[fp.p.log] {
			seen[fp.p.log] = true
			logs = append(logs, fp.p.log)
		}
	}
	if len(logs) > maxWatchedLogs {
		return nil
	}
	return logs
}

// answer finishes rep with a response framed from the last read; the frame
// takes over the read results.
func (f *fetch) answer(rep *reply) {
	fr := newFetchFrame()
	fr.begin(f.req.Version, 0, 0, 0, len(f.topics))
	for i := range f.topics {
		ft := &f.topics[i]
		fr.beginTopic(ft.name, ft.id, len(ft.parts))
		for j := range ft.parts {
			fp := &ft.parts[j]
			if fp.read.Range.Size > 0 {
				fr.hold(fp.read)
			} else {
				fp.read.Release()
			}
			fr.partition(fp.header, fp.read.Range)
			fp.read = segment.ReadResult{}
		}
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
	*f = fetch{parts: f.parts[:0], topics: f.topics[:0]}
	fetchPool.Put(f)
}

// Fetch session epochs with a meaning of their own (KIP-227): a full fetch
// that opens a new session, and a full fetch without one.
const (
	fetchSessionInitialEpoch = 0
	fetchSessionFinalEpoch   = -1
)

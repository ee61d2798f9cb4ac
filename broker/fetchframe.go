package broker

// The Fetch response, framed by hand so that record bytes go from segment
// files to the socket with sendfile and never through user space.
//
// kmsg has no partial encoder: FetchResponse.AppendTo wants every record
// byte in memory. A fetchFrame encodes everything around the records itself
// and keeps the records as file ranges, so a response is a sequence of
// pieces
//
//	bytes, file range, bytes, file range, ..., bytes
//
// whose total size is known before the first byte goes out (the frame's
// int32 size prefix comes first). The layout, for every version from
// fetchFrameMinVersion to fetchFrameMaxVersion (below):
//
//	throttle_ms int32
//	error_code int16, session_id int32                  (v7+)
//	topics array:
//	  topic string (v4-v12) | topic_id uuid (v13+)
//	  partitions array:
//	    partition int32, error_code int16, high_watermark int64,
//	    last_stable_offset int64, log_start_offset int64 (v5+),
//	    aborted_transactions nullable array (always null: no transactions),
//	    preferred_read_replica int32 (v11+, -1 unless the header has one),
//	    records nullable bytes  <- the file range
//	    tagged fields (v12+): 0 diverging_epoch (epoch int32,
//	      end_offset int64, tagged fields) and 1 current_leader
//	      (leader_id int32, leader_epoch int32, tagged fields) when the
//	      header has them
//	  tagged fields (v12+, none)
//	tagged fields (v12+): 0 node_endpoints (array of node_id int32,
//	  host string, port int32, rack nullable string, tagged fields) when
//	  there are some
//
// From v12 (flexible versions) array and byte lengths are uvarints of
// length+1 and every struct ends with a tagged-field count. fetchframe_test.go
// checks every version byte for byte against kmsg's own encoder.

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/segment"
)

// Fetch versions the frame can encode. v0-v3 carry the old message-set
// formats, which Runnel does not store; Kafka 4 dropped them too.
const (
	fetchFrameMinVersion = 4
	fetchFrameMaxVersion = 18
)

// fetchPartitionHeader is what a Fetch response says about one partition
// besides its records.
type fetchPartitionHeader struct {
	Partition        int32
	ErrorCode        int16
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	// Redirect: CurrentLeader is the leader a NOT_LEADER_OR_FOLLOWER
	// answer points to (KIP-951). Encoded, as kmsg does, unless both of
	// its fields are -1.
	Redirect      bool
	CurrentLeader leaderHint
	// Diverging: a follower's log diverges from the leader's, whose
	// DivergingEpoch ends at DivergingEndOffset (KIP-320; replica fetches,
	// fetch_replica.go).
	Diverging          bool
	DivergingEpoch     int32
	DivergingEndOffset int64
	// Preferred: a consumer should fetch this partition from
	// PreferredReadReplica (v11+, KIP-392; fetch_follower.go), else -1 is
	// sent.
	Preferred            bool
	PreferredReadReplica int32
}

// fetchFrame is one Fetch response body being built and then written. Build
// it in order: begin, then per topic beginTopic and one partition call per
// partition, then end. The counts given to begin and beginTopic must match
// the calls that follow (they are encoded up front); end checks them.
//
// A frame is owned by one goroutine at a time: the one building it, then the
// connection's writer, which calls writeTo once and release once.
type fetchFrame struct {
	version  int16
	flexible bool

	// buf holds every encoded byte of the body, without the records that
	// live in files; files[i] goes in at byte buf[files[i].at].
	buf   []byte
	files []framedFile
	// fileBytes is the sum of the file ranges' sizes.
	fileBytes int64

	// held are the segment reads whose ranges this frame sends; release
	// lets go of them.
	held []segment.ReadResult

	// endpoints are the response's NodeEndpoints (KIP-951).
	endpoints []kmsg.FetchResponseBroker

	// Counts still to be written, to catch a builder that lies.
	topicsLeft, partitionsLeft int
	topicOpen, miscounted      bool
}

// framedFile is a file range placed at byte at of the frame's buf.
type framedFile struct {
	at  int
	rng segment.FileRange
}

// fetchFramePool recycles frames (and their buffers) across requests and
// connections; a connection may have several fetches in flight at once.
var fetchFramePool = sync.Pool{New: func() any { return new(fetchFrame) }}

// Frames whose byte buffer grew past this are not kept in the pool, so one
// huge response (thousands of partitions) does not pin memory forever.
const fetchFrameKeepBytes = 1 << 20

// newFetchFrame returns an empty frame from the pool.
func newFetchFrame() *fetchFrame {
	return fetchFramePool.Get().(*fetchFrame)
}

// begin starts the response body: version, top-level fields and the number
// of topics that follow.
func (f *fetchFrame) begin(version int16, throttleMillis int32, errorCode int16, sessionID int32, topics int) {
	f.version = version
	f.flexible = version >= 12
	f.buf = kbin.AppendInt32(f.buf[:0], throttleMillis)
	if version >= 7 {
		f.buf = kbin.AppendInt16(f.buf, errorCode)
		f.buf = kbin.AppendInt32(f.buf, sessionID)
	}
	f.buf = f.appendArrayLen(f.buf, topics)
	f.topicsLeft = topics
	f.partitionsLeft = 0
	f.topicOpen, f.miscounted = false, false
	f.endpoints = f.endpoints[:0]
}

// beginTopic starts a topic: its name (v4-v12) or id (v13+) and the number of
// partitions that follow. It closes the previous topic.
func (f *fetchFrame) beginTopic(name string, id [16]byte, partitions int) {
	f.endTopic()
	f.topicsLeft--
	if f.version >= 13 {
		f.buf = kbin.AppendUuid(f.buf, id)
	} else if f.flexible {
		f.buf = kbin.AppendCompactString(f.buf, name)
	} else {
		f.buf = kbin.AppendString(f.buf, name)
	}
	f.buf = f.appendArrayLen(f.buf, partitions)
	f.partitionsLeft = partitions
	f.topicOpen = true
}

// partition adds one partition whose records are rng (Size 0: no records).
// The frame does not own rng's file: keep the ReadResult it came from alive
// with hold.
func (f *fetchFrame) partition(h fetchPartitionHeader, rng segment.FileRange) {
	if !f.topicOpen {
		f.miscounted = true
	}
	f.partitionsLeft--
	f.buf = kbin.AppendInt32(f.buf, h.Partition)
	f.buf = kbin.AppendInt16(f.buf, h.ErrorCode)
	f.buf = kbin.AppendInt64(f.buf, h.HighWatermark)
	f.buf = kbin.AppendInt64(f.buf, h.LastStableOffset)
	if f.version >= 5 {
		f.buf = kbin.AppendInt64(f.buf, h.LogStartOffset)
	}
	// Aborted transactions: null, as Kafka answers READ_UNCOMMITTED.
	if f.flexible {
		f.buf = append(f.buf, 0)
	} else {
		f.buf = kbin.AppendInt32(f.buf, -1)
	}
	if f.version >= 11 {
		preferred := int32(-1)
		if h.Preferred {
			preferred = h.PreferredReadReplica
		}
		f.buf = kbin.AppendInt32(f.buf, preferred)
	}
	if f.flexible {
		f.buf = kbin.AppendUvarint(f.buf, uint32(rng.Size)+1)
	} else {
		f.buf = kbin.AppendInt32(f.buf, int32(rng.Size))
	}
	if rng.Size > 0 {
		f.files = append(f.files, framedFile{at: len(f.buf), rng: rng})
		f.fileBytes += rng.Size
	}
	if f.flexible {
		// The partition's tagged fields, in tag order.
		diverging := h.Diverging && (h.DivergingEpoch != -1 || h.DivergingEndOffset != -1)
		redirect := h.Redirect && (h.CurrentLeader.leader != -1 || h.CurrentLeader.epoch != -1)
		tags := 0
		if diverging {
			tags++
		}
		if redirect {
			tags++
		}
		f.buf = kbin.AppendUvarint(f.buf, uint32(tags))
		if diverging {
			f.buf = kbin.AppendUvarint(f.buf, 0) // tag 0: diverging_epoch
			f.buf = kbin.AppendUvarint(f.buf, 4+8+1)
			f.buf = kbin.AppendInt32(f.buf, h.DivergingEpoch)
			f.buf = kbin.AppendInt64(f.buf, h.DivergingEndOffset)
			f.buf = append(f.buf, 0) // its tagged fields
		}
		if redirect {
			f.buf = kbin.AppendUvarint(f.buf, 1) // tag 1: current_leader
			f.buf = kbin.AppendUvarint(f.buf, 4+4+1)
			f.buf = kbin.AppendInt32(f.buf, h.CurrentLeader.leader)
			f.buf = kbin.AppendInt32(f.buf, h.CurrentLeader.epoch)
			f.buf = append(f.buf, 0) // its tagged fields
		}
	}
}

// hold makes the frame responsible for releasing r once written.
func (f *fetchFrame) hold(r segment.ReadResult) {
	f.held = append(f.held, r)
}

// endTopic closes the open topic, if any.
func (f *fetchFrame) endTopic() {
	if !f.topicOpen {
		return
	}
	f.topicOpen = false
	if f.partitionsLeft != 0 {
		f.miscounted = true
	}
	if f.flexible {
		f.buf = append(f.buf, 0) // topic tagged fields
	}
}

// errFrameCounts reports a builder whose calls do not match the counts it
// announced; it is a bug in the caller, never a client's fault.
var errFrameCounts = errors.New("broker: fetch frame: topic/partition counts do not match the calls made")

// nodeEndpoints sets the response's NodeEndpoints (v12+; KIP-951 fills
// them from v16), encoded by end. Call it before end.
func (f *fetchFrame) nodeEndpoints(endpoints ...kmsg.FetchResponseBroker) {
	f.endpoints = append(f.endpoints, endpoints...)
}

// end closes the response. The frame is then ready for size and writeTo.
func (f *fetchFrame) end() error {
	f.endTopic()
	switch {
	case f.flexible && len(f.endpoints) > 0:
		f.buf = kbin.AppendUvarint(f.buf, 1) // one tagged field
		f.buf = kbin.AppendUvarint(f.buf, 0) // tag 0: node_endpoints
		at := len(f.buf)
		f.buf = kbin.AppendCompactArrayLen(f.buf, len(f.endpoints))
		for _, e := range f.endpoints {
			f.buf = kbin.AppendInt32(f.buf, e.NodeID)
			f.buf = kbin.AppendCompactString(f.buf, e.Host)
			f.buf = kbin.AppendInt32(f.buf, e.Port)
			f.buf = kbin.AppendCompactNullableString(f.buf, e.Rack)
			f.buf = append(f.buf, 0) // its tagged fields
		}
		// The field's size goes before it: move the field up behind it.
		n := len(f.buf) - at
		f.buf = kbin.AppendUvarint(f.buf, uint32(n))
		size := f.buf[at+n:]
		sizeLen := len(size)
		var sizeBytes [5]byte
		copy(sizeBytes[:], size)
		copy(f.buf[at+sizeLen:], f.buf[at:at+n])
		copy(f.buf[at:], sizeBytes[:sizeLen])
	case f.flexible:
		f.buf = append(f.buf, 0) // top-level tagged fields
	}
	if f.topicsLeft != 0 || f.miscounted {
		return errFrameCounts
	}
	if int64(len(f.buf))+f.fileBytes > math.MaxInt32-64 {
		return fmt.Errorf("broker: fetch response of %d bytes is too large to frame", f.size())
	}
	return nil
}

// size is the body's length in bytes (without the size prefix and header).
func (f *fetchFrame) size() int {
	return len(f.buf) + int(f.fileBytes)
}

// writeTo writes the body, byte pieces and file ranges in order, to the
// connection's writer (responseFrame); on error the connection is left
// mid-frame and is closed by its writer.
func (f *fetchFrame) writeTo(w pieceWriter) error {
	prev := 0
	for _, file := range f.files {
		if err := w.writeBytes(f.buf[prev:file.at]); err != nil {
			return err
		}
		if err := w.writeFile(file.rng.File, file.rng.Position, file.rng.Size); err != nil {
			return fmt.Errorf("broker: fetch: records of %s at %d: %w", file.rng.File.Name(), file.rng.Position, err)
		}
		prev = file.at
	}
	return w.writeBytes(f.buf[prev:])
}

// release lets go of the segment reads the frame held and returns it to the
// pool. The frame must not be used afterwards.
func (f *fetchFrame) release() {
	for i := range f.held {
		f.held[i].Release()
	}
	clear(f.held)
	f.held = f.held[:0]
	clear(f.files)
	f.files = f.files[:0]
	f.fileBytes = 0
	f.topicsLeft, f.partitionsLeft = 0, 0
	f.topicOpen, f.miscounted = false, false
	if cap(f.buf) > fetchFrameKeepBytes {
		return
	}
	f.buf = f.buf[:0]
	fetchFramePool.Put(f)
}

func (f *fetchFrame) appendArrayLen(dst []byte, n int) []byte {
	if f.flexible {
		return kbin.AppendCompactArrayLen(dst, n)
	}
	return kbin.AppendArrayLen(dst, n)
}

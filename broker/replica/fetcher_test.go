package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/internal/wait"
	"runnel/segment"
)

// memLog is a FollowerLog in memory, with segment.Log's rules: whole valid
// batches at or past the end, epochs recorded from the batches, truncation
// to a batch boundary, a high watermark within [start, end].
type memLog struct {
	mu              sync.Mutex
	start, end, hw  int64
	batches         [][]byte
	epochs          []segment.EpochEntry
	appends, truncs int
}

var errMemOffset = errors.New("memlog: offset")

func (m *memLog) EndOffset() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.end
}
func (m *memLog) FlushedOffset() int64 { return m.EndOffset() }
func (m *memLog) StartOffset() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.start
}
func (m *memLog) LeaderEpochs() []segment.EpochEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]segment.EpochEntry(nil), m.epochs...)
}

func (m *memLog) EndOffsetForEpoch(epoch int32) (int32, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.epochs
	if epoch < 0 || len(e) == 0 {
		return -1, -1
	}
	if e[len(e)-1].Epoch == epoch {
		return epoch, m.end
	}
	higher := sort.Search(len(e), func(i int) bool { return e[i].Epoch > epoch })
	switch higher {
	case len(e):
		return -1, -1
	case 0:
		return epoch, e[0].StartOffset
	}
	return e[higher-1].Epoch, e[higher].StartOffset
}

func (m *memLog) AppendAsFollower(records []byte) (segment.AppendInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var batches [][]byte
	var headers []segment.BatchHeader
	next := m.end
	for pos := 0; pos < len(records); {
		h, err := segment.ValidateBatch(records[pos:])
		if err != nil {
			return segment.AppendInfo{}, err
		}
		if h.BaseOffset < next || h.LastOffsetDelta < 0 {
			return segment.AppendInfo{}, fmt.Errorf("%w: batch at %d, end %d", errMemOffset, h.BaseOffset, next)
		}
		next = h.BaseOffset + int64(h.LastOffsetDelta) + 1
		batches = append(batches, records[pos:pos+h.Size()])
		headers = append(headers, h)
		pos += h.Size()
	}
	if len(batches) == 0 {
		return segment.AppendInfo{}, errors.New("memlog: no batch")
	}
	for i, b := range batches {
		m.batches = append(m.batches, append([]byte(nil), b...))
		if h := headers[i]; len(m.epochs) == 0 || h.PartitionLeaderEpoch > m.epochs[len(m.epochs)-1].Epoch {
			m.epochs = append(m.epochs, segment.EpochEntry{Epoch: h.PartitionLeaderEpoch, StartOffset: h.BaseOffset})
		}
	}
	m.end = next
	m.appends++
	return segment.AppendInfo{FirstOffset: headers[0].BaseOffset, LastOffset: next - 1}, nil
}

func header(b []byte) segment.BatchHeader {
	h, _ := segment.ParseBatchHeader(b)
	return h
}

func lastOffset(b []byte) int64 {
	h := header(b)
	return h.BaseOffset + int64(h.LastOffsetDelta)
}

func (m *memLog) TruncateTo(offset int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if offset >= m.end {
		return nil
	}
	if offset < 0 {
		return errMemOffset
	}
	m.truncs++
	if offset <= m.start {
		m.resetLocked(offset)
		return nil
	}
	keep := 0
	for keep < len(m.batches) && lastOffset(m.batches[keep]) < offset {
		keep++
	}
	m.end = offset
	if keep < len(m.batches) {
		m.end = min(offset, header(m.batches[keep]).BaseOffset)
	}
	m.batches = m.batches[:keep]
	for len(m.epochs) > 0 && m.epochs[len(m.epochs)-1].StartOffset >= m.end {
		m.epochs = m.epochs[:len(m.epochs)-1]
	}
	m.hw = min(m.hw, m.end)
	return nil
}

func (m *memLog) resetLocked(offset int64) {
	m.start, m.end, m.hw, m.batches, m.epochs = offset, offset, offset, nil, nil
}

func (m *memLog) TruncateFullyAndStartAt(offset int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if offset < 0 {
		return errMemOffset
	}
	m.truncs++
	m.resetLocked(offset)
	return nil
}

func (m *memLog) DeleteRecordsBefore(offset int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if offset < 0 || offset > m.end {
		return m.start, errMemOffset
	}
	m.start = max(m.start, offset)
	for len(m.batches) > 0 && lastOffset(m.batches[0]) < m.start {
		m.batches = m.batches[1:]
	}
	m.hw = max(m.hw, m.start)
	return m.start, nil
}

func (m *memLog) SetHighWatermark(offset int64) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hw = min(max(offset, m.start), m.end)
	return m.hw
}

// check fails t unless the log keeps its invariants.
func (m *memLog) check(t *testing.T) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.start > m.hw || m.hw > m.end {
		t.Fatalf("start %d, high watermark %d, end %d out of order", m.start, m.hw, m.end)
	}
	prev := int64(-1)
	for _, b := range m.batches {
		h, err := segment.ValidateBatch(b)
		if err != nil || h.Size() != len(b) {
			t.Fatalf("a stored batch is not whole and valid: %v", err)
		}
		if h.BaseOffset <= prev {
			t.Fatalf("batch at %d after one ending at %d", h.BaseOffset, prev)
		}
		prev = lastOffset(b)
	}
	if len(m.batches) > 0 && prev+1 != m.end {
		t.Fatalf("last batch ends at %d, log end %d", prev, m.end)
	}
	for i := 1; i < len(m.epochs); i++ {
		if m.epochs[i].Epoch <= m.epochs[i-1].Epoch || m.epochs[i].StartOffset < m.epochs[i-1].StartOffset {
			t.Fatalf("epochs out of order: %v", m.epochs)
		}
	}
}

// testBatch is a valid batch of n records at base with epoch.
func testBatch(base int64, epoch int32, n int) []byte {
	records := make([]segment.KeyValue, n)
	for i := range records {
		records[i] = segment.KeyValue{Value: fmt.Appendf(nil, "v%d-%d", base, i)}
	}
	b := segment.BuildBatch(nil, 1700000000000, records)
	segment.StampBaseOffset(b, base, epoch)
	return b
}

// batches concatenates batches of n records each from base, all of epoch.
func batches(base int64, epoch int32, n, count int) []byte {
	var out []byte
	for range count {
		out = append(out, testBatch(base, epoch, n)...)
		base += int64(n)
	}
	return out
}

var testTopicID = [16]byte{1, 2, 3}

// testLoop is a loop (not running) following log as partition 0 of "t".
func testLoop(log FollowerLog, durable bool) *fetchLoop {
	cfg := &FetchersConfig{NodeID: 2, Logger: slog.New(slog.DiscardHandler)}
	if durable {
		cfg.Durable = func(_ FollowerLog, _ int64, done func(error)) { done(nil) }
	}
	cfg.defaults()
	l := newFetchLoop(cfg, 1)
	s := &followedState{Followed: Followed{Topic: "t", TopicID: testTopicID, Partition: 0, Leader: 1, LeaderEpoch: 5, Log: log}, key: partitionKey{testTopicID, 0}}
	s.leaderHW.Store(-1)
	l.mu.parts[s.key] = s
	return l
}

// response is a Fetch response for partition 0 of "t".
func response(version int16, edit func(*kmsg.FetchResponseTopicPartition)) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = version
	rt := kmsg.NewFetchResponseTopic()
	rt.Topic, rt.TopicID = "t", testTopicID
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.HighWatermark, rp.LogStartOffset = -1, -1
	edit(&rp)
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	return resp
}

// TestFetcherApply: what one response does to a follower's log, one case
// each.
func TestFetcherApply(t *testing.T) {
	type state struct{ start, end, hw int64 }
	cases := []struct {
		name  string
		log   func() *memLog                                  // the follower's log before
		edit  func(rp *kmsg.FetchResponseTopicPartition)      // the leader's answer
		want  state                                           // the log after
		check func(t *testing.T, m *memLog, s *followedState) // more, if any
	}{{
		name: "records and watermarks",
		log:  func() *memLog { return &memLog{} },
		edit: func(rp *kmsg.FetchResponseTopicPartition) {
			rp.RecordBatches, rp.HighWatermark, rp.LogStartOffset = batches(0, 3, 4, 3), 6, 0
		},
		want: state{0, 12, 6},
	}, {
		name: "a trailing partial batch is dropped",
		log:  func() *memLog { return &memLog{} },
		edit: func(rp *kmsg.FetchResponseTopicPartition) {
			b := batches(0, 3, 4, 3)
			rp.RecordBatches, rp.HighWatermark = b[:len(b)-7], 100
		},
		want: state{0, 8, 8}, // the high watermark no higher than our end
	}, {
		name: "only a partial header",
		log:  func() *memLog { return &memLog{} },
		edit: func(rp *kmsg.FetchResponseTopicPartition) {
			rp.RecordBatches, rp.HighWatermark = testBatch(0, 3, 2)[:30], 5
		},
		want: state{0, 0, 0},
	}, {
		name: "the leader's log start moves ours",
		log: func() *memLog {
			m := &memLog{}
			m.AppendAsFollower(batches(0, 1, 5, 4))
			return m
		},
		edit: func(rp *kmsg.FetchResponseTopicPartition) {
			rp.HighWatermark, rp.LogStartOffset = 20, 12
		},
		want: state{12, 20, 20},
	}, {
		name: "a leader log start past our end is left for OFFSET_OUT_OF_RANGE",
		log:  func() *memLog { return &memLog{} },
		edit: func(rp *kmsg.FetchResponseTopicPartition) { rp.HighWatermark, rp.LogStartOffset = 50, 40 },
		want: state{0, 0, 0},
	}, {
		// Leader: epoch 1 to offset 8, then 3. Ours: epoch 1 to 8, then
		// epoch 2 to 14: cut back to 8.
		name: "diverging, an epoch we have",
		log: func() *memLog {
			m := &memLog{}
			m.AppendAsFollower(append(batches(0, 1, 4, 2), batches(8, 2, 3, 2)...))
			return m
		},
		edit: func(rp *kmsg.FetchResponseTopicPartition) {
			rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = 1, 8
			rp.RecordBatches = testBatch(8, 3, 1) // ignored: a diverging answer has none
		},
		want: state{0, 8, 0},
		check: func(t *testing.T, m *memLog, _ *followedState) {
			if e := m.LeaderEpochs(); len(e) != 1 || e[0].Epoch != 1 {
				t.Errorf("epochs %v, want epoch 1 only", e)
			}
		},
	}, {
		// The leader's epoch 2 is one we never had: truncate to our end
		// of epoch 1 (where epoch 4 starts) and ask again.
		name: "diverging, an epoch we lack",
		log: func() *memLog {
			m := &memLog{}
			m.AppendAsFollower(append(batches(0, 1, 4, 2), batches(8, 4, 3, 2)...))
			return m
		},
		edit: func(rp *kmsg.FetchResponseTopicPartition) {
			rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = 2, 11
		},
		want: state{0, 8, 0},
	}, {
		name: "diverging above our end changes nothing and backs off",
		log: func() *memLog {
			m := &memLog{}
			m.AppendAsFollower(batches(0, 1, 4, 2))
			return m
		},
		edit: func(rp *kmsg.FetchResponseTopicPartition) {
			rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = 1, 20
		},
		want: state{0, 8, 0},
		check: func(t *testing.T, _ *memLog, s *followedState) {
			if s.retryAt.IsZero() {
				t.Error("no backoff after a divergence with nothing to truncate")
			}
		},
	}, {
		name: "fenced waits for a new Follow",
		log:  func() *memLog { return &memLog{} },
		edit: func(rp *kmsg.FetchResponseTopicPartition) { rp.ErrorCode = kerr.FencedLeaderEpoch.Code },
		check: func(t *testing.T, _ *memLog, s *followedState) {
			if !s.fenced {
				t.Error("not fenced")
			}
		},
	}, {
		name: "not leader backs off",
		log:  func() *memLog { return &memLog{} },
		edit: func(rp *kmsg.FetchResponseTopicPartition) { rp.ErrorCode = kerr.NotLeaderForPartition.Code },
		check: func(t *testing.T, _ *memLog, s *followedState) {
			if s.fenced || s.retryAt.IsZero() {
				t.Errorf("fenced %v, retry at %v: want a backoff", s.fenced, s.retryAt)
			}
		},
	}, {
		name: "a corrupt batch appends nothing and backs off",
		log:  func() *memLog { return &memLog{} },
		edit: func(rp *kmsg.FetchResponseTopicPartition) {
			b := batches(0, 1, 2, 2)
			b[len(b)-1] ^= 0xff
			rp.RecordBatches, rp.HighWatermark = b, 4
		},
		check: func(t *testing.T, m *memLog, s *followedState) {
			if m.EndOffset() != 0 || s.retryAt.IsZero() {
				t.Errorf("end %d, retry at %v", m.EndOffset(), s.retryAt)
			}
		},
	}, {
		name: "offsets below our end append nothing",
		log: func() *memLog {
			m := &memLog{}
			m.AppendAsFollower(batches(0, 1, 4, 2))
			return m
		},
		edit: func(rp *kmsg.FetchResponseTopicPartition) { rp.RecordBatches = testBatch(2, 1, 4) },
		want: state{0, 8, 0},
	}, {
		// Kafka's UnexpectedAppendOffsetException case: an empty log
		// starting inside the leader's first batch.
		name: "an empty log restarts at a batch holding its start",
		log: func() *memLog {
			m := &memLog{}
			m.TruncateFullyAndStartAt(12)
			return m
		},
		edit: func(rp *kmsg.FetchResponseTopicPartition) {
			rp.RecordBatches, rp.HighWatermark, rp.LogStartOffset = batches(10, 1, 5, 2), 20, 12
		},
		want: state{12, 20, 20},
	}}
	for _, c := range cases {
		for _, durable := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/durable=%v", c.name, durable), func(t *testing.T) {
				m := c.log()
				l := testLoop(m, durable)
				sent, _ := l.fetchable(time.Now())
				if len(sent) != 1 || sent[0].fetchOffset != m.EndOffset() {
					t.Fatalf("fetchable %v", sent)
				}
				before := m.appends
				_, flushes := l.apply(18, response(18, c.edit), sent, false)
				if want := 0; durable && m.appends > before && len(flushes) != 1 || !durable && len(flushes) != want {
					t.Errorf("%d flushes to wait for", len(flushes))
				}
				m.check(t)
				if c.want != (state{}) || c.check == nil {
					if got := (state{m.start, m.end, m.hw}); got != c.want {
						t.Errorf("start, end, hw %v, want %v", got, c.want)
					}
				}
				if c.check != nil {
					c.check(t, m, sent[0].s)
				}
			})
		}
	}
}

// FuzzFetcherResponse: whatever bytes a leader answers a Fetch with, the
// follower does not panic and its log keeps its invariants.
func FuzzFetcherResponse(f *testing.F) {
	for v := int16(12); v <= 18; v++ {
		for _, edit := range []func(*kmsg.FetchResponseTopicPartition){
			func(rp *kmsg.FetchResponseTopicPartition) {
				rp.RecordBatches, rp.HighWatermark = batches(8, 2, 3, 3), 12
			},
			func(rp *kmsg.FetchResponseTopicPartition) {
				rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = 1, 6
			},
			func(rp *kmsg.FetchResponseTopicPartition) { rp.ErrorCode = kerr.OffsetOutOfRange.Code },
			func(rp *kmsg.FetchResponseTopicPartition) { rp.LogStartOffset, rp.HighWatermark = 5, 1<<62 },
		} {
			f.Add(byte(v), response(v, edit).AppendTo(nil))
		}
	}
	f.Fuzz(func(t *testing.T, version byte, data []byte) {
		v := 12 + int16(version%7)
		resp := kmsg.FetchResponse{Version: v}
		if resp.ReadFrom(data) != nil {
			return
		}
		m := &memLog{}
		if _, err := m.AppendAsFollower(batches(0, 1, 4, 2)); err != nil {
			t.Fatal(err)
		}
		l := testLoop(m, true)
		sent, _ := l.fetchable(time.Now())
		l.apply(v, &resp, sent, false)
		m.check(t)
	})
}

// fakeLeader answers a follower's requests over TCP: ApiVersions with
// Fetch up to maxFetch, everything else with answer's bytes (a response
// body; nil closes the connection).
type fakeLeader struct {
	ln       net.Listener
	maxFetch int16
	answer   func(req kmsg.Request) []byte
	requests chan kmsg.Request
}

func startFakeLeader(t *testing.T, maxFetch int16, answer func(req kmsg.Request) []byte) *fakeLeader {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &fakeLeader{ln: ln, maxFetch: maxFetch, answer: answer, requests: make(chan kmsg.Request, 1000)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go fl.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return fl
}

func (fl *fakeLeader) serve(c net.Conn) {
	defer c.Close()
	for {
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		r := kbin.Reader{Src: body}
		key, version, correlation := r.Int16(), r.Int16(), r.Int32()
		r.NullableString()
		req := kmsg.RequestForKey(key)
		req.SetVersion(version)
		if req.IsFlexible() {
			kmsg.SkipTags(&r)
		}
		if err := req.ReadFrom(r.Src); err != nil {
			return
		}
		var out []byte
		if key == kmsg.ApiVersions.Int16() {
			resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
			resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: kmsg.Fetch.Int16(), MinVersion: 4, MaxVersion: fl.maxFetch}, {ApiKey: kmsg.ListOffsets.Int16(), MinVersion: 1, MaxVersion: 10}}
			out = resp.AppendTo(nil)
		} else {
			fl.requests <- req
			if out = fl.answer(req); out == nil {
				return
			}
			if req.IsFlexible() {
				out = append([]byte{0}, out...) // response header tags
			}
		}
		frame := binary.BigEndian.AppendUint32(nil, uint32(4+len(out)))
		frame = binary.BigEndian.AppendUint32(frame, uint32(correlation))
		if _, err := c.Write(append(frame, out...)); err != nil {
			return
		}
	}
}

// TestFetcherRequest: the Fetch a follower sends at each version its
// leader may top out at.
func TestFetcherRequest(t *testing.T) {
	for _, max := range []int16{12, 13, 14, 15, 18} {
		t.Run(fmt.Sprintf("v%d", max), func(t *testing.T) {
			fl := startFakeLeader(t, max, func(req kmsg.Request) []byte {
				return response(req.GetVersion(), func(rp *kmsg.FetchResponseTopicPartition) { rp.HighWatermark = 8 }).AppendTo(nil)
			})
			m := &memLog{}
			m.AppendAsFollower(append(batches(0, 1, 4, 1), batches(4, 3, 4, 1)...))
			f := NewFetchers(FetchersConfig{NodeID: 2, Endpoint: func(int32) (string, bool) { return fl.ln.Addr().String(), true }, MaxWait: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
			defer f.Close()
			f.Follow(Followed{Topic: "t", TopicID: testTopicID, Partition: 0, Leader: 1, LeaderEpoch: 5, Log: m})
			req := (<-fl.requests).(*kmsg.FetchRequest)
			if req.Version != max {
				t.Errorf("version %d, want %d", req.Version, max)
			}
			wantReplicaID, wantState := int32(2), int32(-1)
			if max >= 15 {
				wantReplicaID, wantState = -1, 2
			}
			if req.ReplicaID != wantReplicaID || req.ReplicaState.ID != wantState {
				t.Errorf("replica id %d, state id %d", req.ReplicaID, req.ReplicaState.ID)
			}
			if req.SessionID != 0 || req.SessionEpoch != 0 || req.MaxWaitMillis != 10 {
				t.Errorf("session %d/%d, wait %d", req.SessionID, req.SessionEpoch, req.MaxWaitMillis)
			}
			if len(req.Topics) != 1 || len(req.Topics[0].Partitions) != 1 {
				t.Fatalf("topics %+v", req.Topics)
			}
			rt := req.Topics[0]
			if max >= 13 && rt.TopicID != testTopicID || max < 13 && rt.Topic != "t" {
				t.Errorf("topic %q %x", rt.Topic, rt.TopicID)
			}
			p := rt.Partitions[0]
			if p.FetchOffset != 8 || p.LastFetchedEpoch != 3 || p.CurrentLeaderEpoch != 5 || p.LogStartOffset != 0 {
				t.Errorf("partition %+v", p)
			}
			wait.Until(t, 5*time.Second, "the leader's high watermark", func() bool {
				m.mu.Lock()
				defer m.mu.Unlock()
				return m.hw == 8
			})
			if lag := f.Lag(); lag != 0 {
				t.Errorf("lag %d", lag)
			}
		})
	}
}

// TestFetcherGarbage: a leader that answers with bytes that are not a
// Fetch response, or with a response cut short, loses the connection and
// is fetched from again; no panic, nothing appended, and a good answer
// then goes through.
func TestFetcherGarbage(t *testing.T) {
	good := func(v int16) []byte {
		return response(v, func(rp *kmsg.FetchResponseTopicPartition) {
			rp.RecordBatches, rp.HighWatermark = batches(0, 1, 2, 2), 4
		}).AppendTo(nil)
	}
	for name, bad := range map[string]func(v int16) []byte{
		"empty":     func(int16) []byte { return []byte{} },
		"random":    func(int16) []byte { return []byte("\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\x7f\x01\x02") },
		"truncated": func(v int16) []byte { b := good(v); return b[:len(b)-20] },
		"closed":    func(int16) []byte { return nil },
	} {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			answers := 0
			fl := startFakeLeader(t, 18, func(req kmsg.Request) []byte {
				mu.Lock()
				defer mu.Unlock()
				answers++
				if answers == 1 {
					return bad(req.GetVersion())
				}
				return good(req.GetVersion())
			})
			m := &memLog{}
			f := NewFetchers(FetchersConfig{NodeID: 2, Endpoint: func(int32) (string, bool) { return fl.ln.Addr().String(), true },
				MaxWait: 10 * time.Millisecond, Backoff: 5 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
			defer f.Close()
			f.Follow(Followed{Topic: "t", TopicID: testTopicID, Partition: 0, Leader: 1, LeaderEpoch: 5, Log: m})
			wait.Until(t, 5*time.Second, "the good answer appended", func() bool { return m.EndOffset() == 4 })
			m.check(t)
		})
	}
}

// TestFetcherFollowUnfollow: a fenced partition waits for a Follow with a
// new epoch; a Follow with a new leader moves it to that leader's loop,
// and the old loop stops; after Unfollow the log is not touched.
func TestFetcherFollowUnfollow(t *testing.T) {
	fenced := startFakeLeader(t, 18, func(req kmsg.Request) []byte {
		return response(req.GetVersion(), func(rp *kmsg.FetchResponseTopicPartition) { rp.ErrorCode = kerr.FencedLeaderEpoch.Code }).AppendTo(nil)
	})
	var mu sync.Mutex
	next := int64(0)
	serving := startFakeLeader(t, 18, func(req kmsg.Request) []byte {
		mu.Lock()
		defer mu.Unlock()
		b := testBatch(next, 6, 1)
		next++
		return response(req.GetVersion(), func(rp *kmsg.FetchResponseTopicPartition) { rp.RecordBatches = b }).AppendTo(nil)
	})
	addr := map[int32]string{1: fenced.ln.Addr().String(), 3: serving.ln.Addr().String()}
	m := &memLog{}
	f := NewFetchers(FetchersConfig{NodeID: 2, Endpoint: func(id int32) (string, bool) { a, ok := addr[id]; return a, ok },
		MaxWait: 10 * time.Millisecond, Backoff: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	defer f.Close()
	fw := Followed{Topic: "t", TopicID: testTopicID, Partition: 0, Leader: 1, LeaderEpoch: 5, Log: m}
	f.Follow(fw)
	<-fenced.requests
	state := func() *followedState {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.parts[partitionKey{testTopicID, 0}]
	}
	fencedNow := func() bool {
		l := f.loops[1]
		l.mu.Lock()
		defer l.mu.Unlock()
		return state().fenced
	}
	wait.Until(t, 5*time.Second, "the partition fenced", fencedNow)
	f.Follow(fw) // the same Follow changes nothing
	if !fencedNow() {
		t.Fatal("a repeated Follow ended the fence")
	}
	if sent, next := f.loops[1].fetchable(time.Now()); len(sent) != 0 || !next.IsZero() {
		t.Fatalf("a fenced partition is fetchable (%d) or waits until %v", len(sent), next)
	}
	fw.Leader, fw.LeaderEpoch = 3, 6
	f.Follow(fw)
	wait.Until(t, 5*time.Second, "records from the new leader", func() bool { return m.EndOffset() >= 3 })
	f.mu.Lock()
	loops := len(f.loops)
	f.mu.Unlock()
	if loops != 1 {
		t.Errorf("%d loops, want the new leader's only", loops)
	}
	f.Unfollow(testTopicID, 0)
	end := m.EndOffset()
	wait.Until(t, 5*time.Second, "the loop stopped", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.loops) == 0
	})
	if m.EndOffset() != end {
		t.Errorf("appended after Unfollow: end %d, was %d", m.EndOffset(), end)
	}
	m.check(t)
}

// TestFetcherDurable: with Durable, the fetch after an append waits for
// its flush and then reports the new end (Redpanda's rule); a failed flush
// puts the partition off, and the others go on. Appended hears of every
// append, with the offsets it added.
func TestFetcherDurable(t *testing.T) {
	var appended atomic.Int64
	var mu sync.Mutex
	next := int64(0)
	fl := startFakeLeader(t, 18, func(req kmsg.Request) []byte {
		mu.Lock()
		defer mu.Unlock()
		b := testBatch(next, 1, 2)
		next += 2
		return response(req.GetVersion(), func(rp *kmsg.FetchResponseTopicPartition) { rp.RecordBatches = b }).AppendTo(nil)
	})
	flushes := make(chan func(error), 10)
	m := &memLog{}
	f := NewFetchers(FetchersConfig{NodeID: 2, Endpoint: func(int32) (string, bool) { return fl.ln.Addr().String(), true },
		Durable: func(log FollowerLog, end int64, done func(error)) {
			if log != FollowerLog(m) || end != log.EndOffset() {
				t.Errorf("flush of %v to %d, log end %d", log, end, log.EndOffset())
			}
			flushes <- done
		},
		Appended: func(log FollowerLog, messages int64) {
			if log != FollowerLog(m) {
				t.Errorf("Appended of %v", log)
			}
			appended.Add(messages)
		},
		MaxWait: 10 * time.Millisecond, Backoff: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	defer f.Close()
	f.Follow(Followed{Topic: "t", TopicID: testTopicID, Partition: 0, Leader: 1, LeaderEpoch: 5, Log: m})
	if req := (<-fl.requests).(*kmsg.FetchRequest); req.Topics[0].Partitions[0].FetchOffset != 0 {
		t.Fatalf("first fetch from %d", req.Topics[0].Partitions[0].FetchOffset)
	}
	done := <-flushes
	select {
	case <-fl.requests:
		t.Fatal("fetched again before the flush was done")
	default:
	}
	if n := appended.Load(); n != 2 {
		t.Errorf("Appended counted %d messages, want 2", n)
	}
	done(nil)
	if req := (<-fl.requests).(*kmsg.FetchRequest); req.Topics[0].Partitions[0].FetchOffset != 2 {
		t.Fatalf("second fetch from %d, want the flushed end 2", req.Topics[0].Partitions[0].FetchOffset)
	}
	(<-flushes)(errors.New("disk on fire"))
	wait.Until(t, 5*time.Second, "the partition put off", func() bool {
		l := f.loops[1]
		l.mu.Lock()
		defer l.mu.Unlock()
		return !l.mu.parts[partitionKey{testTopicID, 0}].retryAt.IsZero()
	})
	if sent, _ := f.loops[1].fetchable(time.Now()); len(sent) != 0 {
		t.Error("a partition whose flush failed is fetched again before its backoff")
	}
}

// TestFetcherNewEpochSameLeader: a Follow with a new epoch from the same
// leader keeps its loop and connection, and the next fetch carries the
// new epoch.
func TestFetcherNewEpochSameLeader(t *testing.T) {
	fl := startFakeLeader(t, 18, func(req kmsg.Request) []byte {
		return response(req.GetVersion(), func(*kmsg.FetchResponseTopicPartition) {}).AppendTo(nil)
	})
	f := NewFetchers(FetchersConfig{NodeID: 2, Endpoint: func(int32) (string, bool) { return fl.ln.Addr().String(), true },
		MaxWait: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	defer f.Close()
	fw := Followed{Topic: "t", TopicID: testTopicID, Partition: 0, Leader: 1, LeaderEpoch: 5, Log: &memLog{}}
	f.Follow(fw)
	<-fl.requests
	loop := f.loops[1]
	fw.LeaderEpoch = 6
	f.Follow(fw)
	if f.loops[1] != loop {
		t.Fatal("a new epoch from the same leader started a new loop")
	}
	wait.Until(t, 5*time.Second, "a fetch with epoch 6", func() bool {
		return (<-fl.requests).(*kmsg.FetchRequest).Topics[0].Partitions[0].CurrentLeaderEpoch == 6
	})
}

// fakeThrottle is a Throttle whose exhaustion the test sets.
type fakeThrottle struct {
	exhausted bool
	recorded  int
}

func (f *fakeThrottle) Allowed() bool    { return !f.exhausted }
func (f *fakeThrottle) Record(bytes int) { f.recorded += bytes }

// TestFetcherThrottle: a throttled partition behind the leader's high
// watermark is left out of the fetch while its throttle is exhausted (the
// loop looks again after a backoff), one caught up is fetched whatever the
// throttle, and the bytes fetched are recorded.
func TestFetcherThrottle(t *testing.T) {
	m := &memLog{}
	l := testLoop(m, false)
	th := &fakeThrottle{exhausted: true}
	l.cfg.Throttle = func(topic string, partition int32) Throttle {
		if topic != "t" || partition != 0 {
			t.Errorf("Throttle of %s-%d", topic, partition)
		}
		return th
	}
	s := l.mu.parts[partitionKey{testTopicID, 0}]
	s.leaderHW.Store(4) // behind: not in sync
	now := time.Now()
	if sent, next := l.fetchable(now); len(sent) != 0 || !next.Equal(now.Add(l.cfg.Backoff)) {
		t.Fatalf("exhausted: fetched %d partitions, next look at %v", len(sent), next)
	}
	th.exhausted = false
	sent, _ := l.fetchable(now)
	if len(sent) != 1 || sent[0].throttle == nil {
		t.Fatalf("allowed: fetched %+v", sent)
	}
	batch := testBatch(0, 5, 4)
	l.apply(12, response(12, func(rp *kmsg.FetchResponseTopicPartition) { rp.RecordBatches, rp.HighWatermark = batch, 4 }), sent, false)
	if th.recorded != len(batch) || m.EndOffset() != 4 {
		t.Fatalf("recorded %d bytes of %d, log end %d", th.recorded, len(batch), m.EndOffset())
	}
	th.exhausted = true // caught up: in sync, never held back
	if sent, _ := l.fetchable(now); len(sent) != 1 {
		t.Fatal("a caught-up partition was held back")
	}
}

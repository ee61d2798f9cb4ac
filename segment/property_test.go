package segment_test

import (
	"bytes"
	"errors"
	"flag"
	"math/rand"
	"os"
	"strconv"
	"testing"
	"time"

	"runnel/segment"
)

var long = flag.Bool("long", false, "run the property test (and others) for many more steps")

// propertySteps is how many operations each seed of TestProperty runs: RUNNEL_PROPERTY_STEPS,
// or 50000 with -long, or a default that keeps the test to a few seconds.
func propertySteps() int {
	if n, err := strconv.Atoi(os.Getenv("RUNNEL_PROPERTY_STEPS")); err == nil {
		return n
	}
	if *long {
		return 50000
	}
	return 700
}

// model is the in-memory truth the log is checked against: the batches (with the offsets the
// log stamped), the log start offset and the flushed offset.
type model struct {
	batches []segment.BatchHeader
	bytes   [][]byte
	start   int64
	end     int64
	flushed int64
}

func (m *model) append(b []byte) {
	for _, one := range splitBatches(b) {
		m.batches = append(m.batches, header(one))
		m.bytes = append(m.bytes, one)
	}
	m.end = m.batches[len(m.batches)-1].LastOffset() + 1
}

// index returns the position of the first batch that ends at or after offset.
func (m *model) index(offset int64) int {
	for i, h := range m.batches {
		if h.LastOffset() >= offset {
			return i
		}
	}
	return len(m.batches)
}

// dropBefore forgets the batches wholly below the start offset.
func (m *model) dropBefore() {
	i := m.index(m.start)
	m.batches, m.bytes = m.batches[i:], m.bytes[i:]
}

func (m *model) truncateTo(offset int64) {
	if offset >= m.end {
		return
	}
	if offset <= m.start {
		*m = model{start: offset, end: offset, flushed: offset}
		return
	}
	i := m.index(offset)
	newEnd := offset
	if i < len(m.batches) && m.batches[i].BaseOffset < offset {
		newEnd = m.batches[i].BaseOffset
	}
	m.batches, m.bytes = m.batches[:i], m.bytes[:i]
	m.end = newEnd
	m.flushed = min(m.flushed, newEnd)
}

// stream returns the model's bytes from batch i on, as the files hold them back to back.
func (m *model) stream(i int) []byte {
	return bytes.Join(m.bytes[i:], nil)
}

// TestProperty runs random appends, reads, syncs, rolls (small segments), truncations, clean
// and crash reopens, retention and DeleteRecords against a log and an in-memory model, and
// checks every read against the model's bytes.
func TestProperty(t *testing.T) {
	steps := propertySteps()
	for seed := int64(1); seed <= 3; seed++ {
		t.Run("seed="+strconv.FormatInt(seed, 10), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			dir := t.TempDir()
			cfg := smallConfig()
			cfg.SegmentBytes = int64(8<<10 + rng.Intn(24<<10))
			cfg.PreallocateBytes = int64(rng.Intn(3)) * 4 << 10
			cfg.IndexIntervalBytes = rng.Intn(2048)
			cfg.SegmentIndexBytes = 64 + rng.Intn(512)
			cfg.RetentionMs = -1
			l, err := segment.OpenLog(dir, testTP, cfg, 0, true, quietLogger)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { l.Close() }()
			m := &model{}
			counts := map[string]int{}
			for step := range steps {
				op := rng.Intn(100)
				switch {
				case op < 45:
					counts["append"]++
					var b []byte
					for range 1 + rng.Intn(3)*rng.Intn(2) {
						b = append(b, randomBatch(rng, 1+rng.Intn(3000), int64(step))...)
					}
					info, err := l.Append(b, segment.AppendOptions{})
					if errors.Is(err, segment.ErrRecordTooLarge) {
						continue
					}
					if err != nil {
						t.Fatalf("step %d: Append: %v", step, err)
					}
					if info.FirstOffset != m.end {
						t.Fatalf("step %d: appended at %d, model end %d", step, info.FirstOffset, m.end)
					}
					m.append(b)
				case op < 75:
					counts["read"]++
					checkRead(t, l, m, rng, step)
				case op < 83:
					counts["sync"]++
					end, err := l.Sync()
					if err != nil || end != m.end {
						t.Fatalf("step %d: Sync = %d, %v; model end %d", step, end, err, m.end)
					}
					m.flushed = m.end
				case op < 87:
					counts["truncate"]++
					offset := m.start + rng.Int63n(m.end-m.start+1)
					if rng.Intn(10) == 0 {
						offset = max(0, m.start-rng.Int63n(3))
					}
					if err := l.TruncateTo(offset); err != nil {
						t.Fatalf("step %d: TruncateTo(%d): %v", step, offset, err)
					}
					m.truncateTo(offset)
				case op < 91:
					clean := rng.Intn(2) == 0
					if clean {
						counts["reopen clean"]++
						if err := l.Close(); err != nil {
							t.Fatalf("step %d: Close: %v", step, err)
						}
					} else {
						counts["reopen after crash"]++
						l.Abandon()
					}
					start := m.start
					if clean {
						start = l.StartOffset() // as LogDir's checkpoint passes it on
					}
					l, err = segment.OpenLog(dir, testTP, cfg, l.FlushedOffset(), clean, quietLogger)
					if err != nil {
						t.Fatalf("step %d: reopen: %v", step, err)
					}
					// Without the start offset checkpoint the log starts at its first segment.
					if got := l.StartOffset(); got > start {
						t.Fatalf("step %d: reopened start %d, was %d", step, got, start)
					}
					if _, err := l.DeleteRecordsBefore(start); err != nil {
						t.Fatalf("step %d: %v", step, err)
					}
					m.flushed = m.end
				case op < 95:
					counts["retention"]++
					c := cfg
					c.RetentionBytes = rng.Int63n(4 * cfg.SegmentBytes)
					l.SetConfig(c)
					if _, err := l.ApplyRetention(time.Now()); err != nil {
						t.Fatalf("step %d: ApplyRetention: %v", step, err)
					}
					l.SetConfig(cfg)
					m.start = l.StartOffset()
					m.dropBefore()
				default:
					counts["delete records"]++
					offset := m.start + rng.Int63n(m.end-m.start+1)
					start, err := l.DeleteRecordsBefore(offset)
					if err != nil || start != offset {
						t.Fatalf("step %d: DeleteRecordsBefore(%d) = %d, %v", step, offset, start, err)
					}
					m.start = offset
					m.dropBefore()
				}
				if l.StartOffset() != m.start || l.EndOffset() != m.end || l.FlushedOffset() < m.flushed || l.FlushedOffset() > m.end {
					t.Fatalf("step %d: log start %d end %d flushed %d; model %d %d %d", step, l.StartOffset(), l.EndOffset(), l.FlushedOffset(), m.start, m.end, m.flushed)
				}
			}
			equalBatches(t, readAllBatches(t, l, m.start, false), m.bytes)
			t.Logf("%d steps: %v", steps, counts)
		})
	}
}

// checkRead reads from a random offset with random limits and checks the result against the
// model: the range must be exactly the model's bytes from the batch holding the offset, whole
// batches except a tail cut by maxBytes, never past the (flushed) end.
func checkRead(t *testing.T, l *segment.Log, m *model, rng *rand.Rand, step int) {
	t.Helper()
	offset := m.start - 1 + rng.Int63n(m.end-m.start+3)
	maxBytes := rng.Intn(8000)
	durable, minOne := rng.Intn(2) == 0, rng.Intn(4) != 0
	rr, err := l.Read(offset, maxBytes, segment.ReadOptions{DurableOnly: durable, MinOneBatch: minOne})
	got := rangeBytes(t, &rr)
	if offset < m.start || offset > m.end {
		if !errors.Is(err, segment.ErrOffsetOutOfRange) {
			t.Fatalf("step %d: Read(%d) outside [%d, %d]: %v", step, offset, m.start, m.end, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("step %d: Read(%d): %v", step, offset, err)
	}
	limit := m.end
	if durable {
		limit = m.flushed
	}
	if offset >= limit || (maxBytes == 0 && !minOne) {
		if len(got) != 0 {
			t.Fatalf("step %d: Read(%d) past the limit %d returned %d bytes", step, offset, limit, len(got))
		}
		return
	}
	i := m.index(offset)
	if len(got) == 0 || rr.FirstOffset != m.batches[i].BaseOffset {
		t.Fatalf("step %d: Read(%d, %d, durable=%v, minOne=%v) = %d bytes from %d; want batch at %d", step, offset, maxBytes, durable, minOne, len(got), rr.FirstOffset, m.batches[i].BaseOffset)
	}
	want := m.stream(i)
	if !bytes.HasPrefix(want, got) {
		t.Fatalf("step %d: Read(%d) bytes differ from the model", step, offset)
	}
	first := len(m.bytes[i])
	switch {
	case minOne && len(got) < min(first, len(want)):
		t.Fatalf("step %d: Read(%d) minOneBatch returned %d of %d bytes", step, offset, len(got), first)
	case len(got) > max(maxBytes, first):
		t.Fatalf("step %d: Read(%d) returned %d bytes for maxBytes %d", step, offset, len(got), maxBytes)
	}
	// Whole batches past the flushed end must not show in a durable read.
	var durableBytes int
	for j := i; j < len(m.batches) && m.batches[j].LastOffset() < limit; j++ {
		durableBytes += len(m.bytes[j])
	}
	if len(got) > durableBytes {
		t.Fatalf("step %d: Read(%d, durable=%v) returned %d bytes, only %d below %d", step, offset, durable, len(got), durableBytes, limit)
	}
}

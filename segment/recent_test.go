package segment_test

import (
	"bytes"
	"math/rand"
	"testing"

	"runnel/segment"
)

// TestTailReadsFollowAppendsAndTruncations checks Read against a model of the log (the batches
// appended, in order) while appends, truncations and syncs interleave, reading where a
// consumer at the tail reads: at each of the last few batches, which the appender's record of
// recent batches answers, and at older ones, which the walk from the index answers. Both must
// give the batch holding the offset, whole, and a truncation must leave no stale answer: new
// batches at the offsets of removed ones have other sizes and positions.
func TestTailReadsFollowAppendsAndTruncations(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		rng := rand.New(rand.NewSource(seed))
		l := openTestLog(t, t.TempDir(), smallConfig(), 0, true)
		var model [][]byte // every batch in the log, in order
		check := func(step int) {
			t.Helper()
			for back := 1; back <= min(len(model), 12); back++ {
				want := model[len(model)-back]
				h := header(want)
				for _, off := range []int64{h.BaseOffset, h.LastOffset()} {
					rr, err := l.Read(off, 1, segment.ReadOptions{MinOneBatch: true})
					if err != nil {
						t.Fatalf("seed %d step %d: Read(%d): %v", seed, step, off, err)
					}
					first := rr.FirstOffset
					if got := rangeBytes(t, &rr); first != h.BaseOffset || !bytes.Equal(got, want) {
						t.Fatalf("seed %d step %d: Read(%d) gave first offset %d and %d bytes, want the batch at %d (%d bytes)",
							seed, step, off, first, len(got), h.BaseOffset, len(want))
					}
				}
			}
		}
		for step := range 400 {
			switch r := rng.Intn(10); {
			case r < 7 || len(model) == 0:
				b := randomBatch(rng, 50+rng.Intn(900), int64(step))
				mustAppend(t, l, b)
				model = append(model, b)
			case r < 9:
				keep := len(model) - 1 - rng.Intn(min(len(model), 5))
				to := l.StartOffset()
				if keep > 0 {
					to = header(model[keep-1]).LastOffset() + 1
				}
				if keep < 0 || to < l.StartOffset() {
					continue
				}
				if err := l.TruncateTo(to); err != nil {
					t.Fatalf("seed %d step %d: TruncateTo(%d): %v", seed, step, to, err)
				}
				model = model[:keep]
			default:
				if _, err := l.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			check(step)
		}
	}
}

// TestTailReadsWhileAppending: a consumer tails the log while the appender appends, so that
// reads of the appender's record of recent batches race its changes to it; every batch read
// must be the one appended at its offset.
func TestTailReadsWhileAppending(t *testing.T) {
	l := openTestLog(t, t.TempDir(), smallConfig(), 0, true)
	rng := rand.New(rand.NewSource(4))
	const n = 3000
	batches := make([][]byte, n)
	for i := range batches {
		batches[i] = randomBatch(rng, 20+rng.Intn(300), int64(i))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, b := range batches {
			if _, err := l.Append(b, segment.AppendOptions{}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	// Offsets are the batches' once appended (stamped in place): the reader matches by base
	// offset what it reads against the batch appended i-th.
	read := 0
	for offset := int64(0); read < n; {
		rr, err := l.Read(offset, 1, segment.ReadOptions{MinOneBatch: true})
		if err != nil {
			t.Fatal(err)
		}
		got := rangeBytes(t, &rr)
		if len(got) == 0 {
			select {
			case <-done:
				if l.EndOffset() == offset {
					t.Fatalf("read %d batches of %d, the appender stopped at offset %d", read, n, offset)
				}
			default:
			}
			continue
		}
		if !bytes.Equal(got, batches[read]) {
			t.Fatalf("batch %d at offset %d: read %d bytes that differ from the %d appended", read, offset, len(got), len(batches[read]))
		}
		offset = header(got).LastOffset() + 1
		read++
	}
	<-done
}

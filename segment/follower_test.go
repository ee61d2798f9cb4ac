package segment_test

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"runnel/segment"
	"runnel/segment/segmenttest"
)

// replicaLeader drives a leader log the way the broker does: idempotent producers with their
// sequences, plain producers, leader epochs that change, compressed and LogAppendTime batches.
// It remembers each producer's last batch as the producer sent it, to retry it later.
type replicaLeader struct {
	t       *testing.T
	rng     *rand.Rand
	log     *segment.Log
	epoch   int32
	seqs    map[int64]int32
	retries map[int64]retry // producer id -> its last batch, unstamped, and the offsets it got
}

type retry struct {
	batch      []byte
	first, end int64
}

func (r *replicaLeader) appendRandom() {
	t, rng := r.t, r.rng
	values := make([]string, 1+rng.Intn(5))
	for i := range values {
		values[i] = string(bytes.Repeat([]byte{byte('a' + rng.Intn(26))}, rng.Intn(300)))
	}
	opts := []segmenttest.Option{segmenttest.Timestamp(time.Now().UnixMilli() + int64(rng.Intn(1000))),
		segmenttest.Compression([]int{segment.CodecNone, segment.CodecNone, segment.CodecGzip, segment.CodecZstd, segment.CodecLZ4}[rng.Intn(5)])}
	pid := int64(-1)
	if rng.Intn(4) > 0 {
		pid = int64(1 + rng.Intn(3))
		opts = append(opts, segmenttest.Producer(pid, 0, r.seqs[pid]))
	}
	b := segmenttest.Batch(segmenttest.Values(values...), opts...)
	sent := slices.Clone(b)
	var appendTime int64
	if rng.Intn(5) == 0 {
		appendTime = time.Now().UnixMilli() // producers expire a day after their last batch's time
	}
	info, err := r.log.Append(b, segment.AppendOptions{LeaderEpoch: r.epoch, LogAppendTime: appendTime})
	if err != nil || info.Duplicate {
		t.Fatalf("leader Append: %+v, %v", info, err)
	}
	if pid >= 0 {
		r.seqs[pid] += int32(len(values))
		r.retries[pid] = retry{batch: sent, first: info.FirstOffset, end: info.LastOffset}
	}
}

// replicate makes the follower fetch from the leader until it has everything: the leader's Read
// ranges, cut at random whole-batch boundaries.
func replicate(t *testing.T, rng *rand.Rand, leader, follower *segment.Log) {
	t.Helper()
	for follower.EndOffset() < leader.EndOffset() {
		rr, err := leader.Read(follower.EndOffset(), 1+rng.Intn(16<<10), segment.ReadOptions{MinOneBatch: true})
		if err != nil {
			t.Fatalf("leader Read(%d): %v", follower.EndOffset(), err)
		}
		batches := splitBatches(rangeBytes(t, &rr))
		if len(batches) == 0 {
			t.Fatalf("leader Read(%d) of a log ending at %d returned no batch", follower.EndOffset(), leader.EndOffset())
		}
		records := bytes.Join(batches[:1+rng.Intn(len(batches))], nil)
		h, _ := segment.ParseBatchHeader(records)
		info, err := follower.AppendAsFollower(records)
		if err != nil {
			t.Fatalf("AppendAsFollower at %d: %v", h.BaseOffset, err)
		}
		if info.FirstOffset != h.BaseOffset || info.LastOffset != follower.EndOffset()-1 || info.LogAppendTime != -1 || info.Duplicate {
			t.Fatalf("AppendAsFollower at %d = %+v, log end now %d", h.BaseOffset, info, follower.EndOffset())
		}
	}
}

// requireSameLog checks that the follower holds the leader's bytes, end offset and epochs.
func requireSameLog(t *testing.T, leader, follower *segment.Log) {
	t.Helper()
	if le, fe := leader.EndOffset(), follower.EndOffset(); le != fe {
		t.Fatalf("follower ends at %d, leader at %d", fe, le)
	}
	lb, fb := readAllBatches(t, leader, 0, false), readAllBatches(t, follower, 0, false)
	if !bytes.Equal(bytes.Join(lb, nil), bytes.Join(fb, nil)) {
		equalBatches(t, fb, lb)
		t.Fatal("follower's bytes differ from the leader's")
	}
	if le, fe := leader.LeaderEpochs(), follower.LeaderEpochs(); !slices.Equal(le, fe) {
		t.Fatalf("follower's epochs %v, leader's %v", fe, le)
	}
}

// requireRetriesDeduplicated retries each producer's last batch on the follower as a new
// leader would take it: each must be a duplicate with the offsets the old leader gave it.
func requireRetriesDeduplicated(t *testing.T, follower *segment.Log, retries map[int64]retry, epoch int32) {
	t.Helper()
	end := follower.EndOffset()
	for pid, r := range retries {
		info, err := follower.Append(slices.Clone(r.batch), segment.AppendOptions{LeaderEpoch: epoch})
		if err != nil || !info.Duplicate || info.FirstOffset != r.first || info.LastOffset != r.end {
			t.Fatalf("producer %d's retry on the follower: %+v, %v; want a duplicate at [%d, %d]", pid, info, err, r.first, r.end)
		}
	}
	if follower.EndOffset() != end {
		t.Fatalf("retries moved the log end from %d to %d", end, follower.EndOffset())
	}
}

// TestAppendAsFollowerMatchesLeader is a property test of replication against the leader: a
// follower that appends the leader's read ranges, cut anywhere between batches, holds the
// leader's bytes, end offset and leader epochs, and deduplicates a producer's retry once it
// leads; a diverged follower truncates and catches up; a crash keeps all of it.
func TestAppendAsFollowerMatchesLeader(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewSource(seed))
		cfg := smallConfig()
		leader := &replicaLeader{t: t, rng: rng, log: openTestLog(t, t.TempDir(), cfg, 0, false),
			seqs: map[int64]int32{}, retries: map[int64]retry{}}
		followerDir := t.TempDir()
		follower := openTestLog(t, followerDir, cfg, 0, false)
		for i := 0; i < 300; i++ {
			if rng.Intn(60) == 0 {
				leader.epoch++
			}
			leader.appendRandom()
			if rng.Intn(20) == 0 {
				replicate(t, rng, leader.log, follower)
			}
		}
		replicate(t, rng, leader.log, follower)
		requireSameLog(t, leader.log, follower)
		requireRetriesDeduplicated(t, follower, leader.retries, leader.epoch+1)
		if len(leader.log.LeaderEpochs()) < 2 && leader.epoch > 0 {
			t.Fatalf("seed %d: leader epochs %v", seed, leader.log.LeaderEpochs())
		}

		// The follower leads for a while in its old epoch and is cut off: its tail diverges
		// from what the leader appends in a new epoch.
		for i := 0; i < 3; i++ {
			mustAppendEpoch(t, follower, segmenttest.Batch(segmenttest.Values("diverged")), leader.epoch)
		}
		leader.epoch += 2
		for i := 0; i < 20; i++ {
			leader.appendRandom()
		}
		_, divergence := leader.log.EndOffsetForEpoch(leader.epoch - 2)
		if err := follower.TruncateTo(divergence); err != nil {
			t.Fatalf("TruncateTo(%d): %v", divergence, err)
		}
		replicate(t, rng, leader.log, follower)
		requireSameLog(t, leader.log, follower)

		// A kill (no Close) keeps everything: what was synced, and the rest, which the page
		// cache kept, with its leader epochs, recovered from the batches.
		if _, err := follower.Sync(); err != nil {
			t.Fatal(err)
		}
		leader.epoch++
		for i := 0; i < 20; i++ {
			leader.appendRandom()
		}
		replicate(t, rng, leader.log, follower)
		follower.Abandon()
		follower = openTestLog(t, followerDir, cfg, 0, false)
		requireSameLog(t, leader.log, follower)
		requireRetriesDeduplicated(t, follower, leader.retries, leader.epoch+1)
	}
}

func mustAppendEpoch(t *testing.T, l *segment.Log, b []byte, epoch int32) {
	t.Helper()
	if _, err := l.Append(b, segment.AppendOptions{LeaderEpoch: epoch}); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

// leaderBatch returns a batch as a leader stored it: at base offset base, records values.
func leaderBatch(base int64, epoch int32, values ...string) []byte {
	return segmenttest.Batch(segmenttest.Values(values...), segmenttest.BaseOffset(base), segmenttest.LeaderEpoch(epoch))
}

// TestAppendAsFollowerRefuses checks that a follower's append that does not fit its log, or is
// corrupt, is refused whole and leaves the log as it was.
func TestAppendAsFollowerRefuses(t *testing.T) {
	l := openTestLog(t, t.TempDir(), smallConfig(), 0, false)
	if _, err := l.AppendAsFollower(bytes.Join([][]byte{leaderBatch(0, 1, "a", "b"), leaderBatch(5, 2, "c")}, nil)); err != nil {
		t.Fatalf("AppendAsFollower with a gap: %v", err)
	}
	if l.EndOffset() != 6 || !slices.Equal(l.LeaderEpochs(), []segment.EpochEntry{{Epoch: 1, StartOffset: 0}, {Epoch: 2, StartOffset: 5}}) {
		t.Fatalf("end %d, epochs %v", l.EndOffset(), l.LeaderEpochs())
	}
	corrupt := leaderBatch(6, 2, "x")
	corrupt[len(corrupt)-1] ^= 1
	for _, tc := range []struct {
		name    string
		records []byte
		want    error
	}{
		{"base below end", leaderBatch(5, 2, "x"), segment.ErrUnexpectedOffset},
		{"overlapping batches", bytes.Join([][]byte{leaderBatch(6, 2, "x", "y"), leaderBatch(7, 2, "z")}, nil), segment.ErrUnexpectedOffset},
		{"corrupt CRC", bytes.Join([][]byte{leaderBatch(6, 2, "x"), corrupt}, nil), segment.ErrCorruptBatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := l.Size()
			if _, err := l.AppendAsFollower(tc.records); !errors.Is(err, tc.want) {
				t.Fatalf("AppendAsFollower: %v, want %v", err, tc.want)
			}
			if l.EndOffset() != 6 || l.Size() != size || len(l.LeaderEpochs()) != 2 {
				t.Fatalf("refused append changed the log: end %d, size %d (was %d), epochs %v", l.EndOffset(), l.Size(), size, l.LeaderEpochs())
			}
		})
	}
	if _, err := l.AppendAsFollower(leaderBatch(6, 2, "next")); err != nil {
		t.Fatalf("AppendAsFollower after refusals: %v", err)
	}
}

// hwLog returns a log of ten batches of three records each: offsets [0, 30).
func hwLog(t *testing.T, dir string) *segment.Log {
	l := openTestLog(t, dir, smallConfig(), 0, false)
	for i := 0; i < 10; i++ {
		mustAppend(t, l, segmenttest.Batch(segmenttest.Values("a", "b", "c")))
	}
	return l
}

// readToHighWatermark returns the end (exclusive) of the batches a consumer reads from offset 0
// up to the high watermark.
func readToHighWatermark(t *testing.T, l *segment.Log) int64 {
	t.Helper()
	var end int64
	for offset := l.StartOffset(); ; {
		rr, err := l.Read(offset, 1<<20, segment.ReadOptions{UpToHighWatermark: true, MinOneBatch: true})
		if err != nil {
			t.Fatalf("Read(%d): %v", offset, err)
		}
		batches := splitBatches(rangeBytes(t, &rr))
		if len(batches) == 0 {
			return end
		}
		h, _ := segment.ParseBatchHeader(batches[len(batches)-1])
		offset, end = h.LastOffset()+1, h.LastOffset()+1
	}
}

func TestHighWatermarkLimitsReads(t *testing.T) {
	l := hwLog(t, t.TempDir())
	if hw := l.HighWatermark(); hw != 0 {
		t.Fatalf("new log's high watermark %d, want 0", hw)
	}
	for _, tc := range []struct{ set, want, readEnd int64 }{
		{12, 12, 12}, // a batch boundary
		{16, 16, 15}, // inside the batch [15, 17]: reads stop before it
		{30, 30, 30},
		{99, 30, 30}, // clamped to the log end
		{-4, 0, 0},   // clamped to the log start
		{3, 3, 3},    // down again
	} {
		if got := l.SetHighWatermark(tc.set); got != tc.want || l.HighWatermark() != tc.want {
			t.Fatalf("SetHighWatermark(%d) = %d, HighWatermark %d; want %d", tc.set, got, l.HighWatermark(), tc.want)
		}
		if end := readToHighWatermark(t, l); end != tc.readEnd {
			t.Fatalf("high watermark %d: reads end at %d, want %d", tc.want, end, tc.readEnd)
		}
	}
	// With DurableOnly too, the lower limit wins.
	l.SetHighWatermark(30)
	rr, err := l.Read(0, 1<<20, segment.ReadOptions{UpToHighWatermark: true, DurableOnly: true})
	if err != nil || rr.Range.Size != 0 {
		t.Fatalf("nothing is flushed: Read = %+v, %v", rr.Range, err)
	}
	rr.Release()
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(9)
	if n := len(readAllBatchesHW(t, l)); n != 3 {
		t.Fatalf("flushed, high watermark 9: %d batches read, want 3", n)
	}
}

func readAllBatchesHW(t *testing.T, l *segment.Log) [][]byte {
	rr, err := l.Read(0, 1<<20, segment.ReadOptions{UpToHighWatermark: true, DurableOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	return splitBatches(rangeBytes(t, &rr))
}

func TestHighWatermarkFollowsTheLogRange(t *testing.T) {
	l := hwLog(t, t.TempDir())
	changed := make(chan struct{}, 1)
	l.Watch(changed)
	defer l.Unwatch(changed)
	l.SetHighWatermark(30)
	select {
	case <-changed:
	default:
		t.Fatal("no wake-up when the high watermark moved")
	}
	if err := l.TruncateTo(20); err != nil { // inside [18, 20]: the log ends at 18
		t.Fatal(err)
	}
	if hw := l.HighWatermark(); hw != 18 {
		t.Fatalf("after TruncateTo: high watermark %d, want 18", hw)
	}
	mustAppend(t, l, segmenttest.Batch(segmenttest.Values("d")))
	if end := readToHighWatermark(t, l); end != 18 {
		t.Fatalf("after truncation and an append, reads end at %d, want 18", end)
	}
	l.SetHighWatermark(4)
	select { // a wake-up from the truncation, the append or SetHighWatermark
	case <-changed:
	default:
	}
	if start, err := l.DeleteRecordsBefore(9); err != nil || start != 9 {
		t.Fatalf("DeleteRecordsBefore(9) = %d, %v", start, err)
	}
	if hw := l.HighWatermark(); hw != 9 {
		t.Fatalf("after DeleteRecordsBefore(9): high watermark %d, want 9", hw)
	}
	select {
	case <-changed:
	default:
		t.Fatal("no wake-up when the log start raised the high watermark")
	}
	if err := l.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	if hw := l.HighWatermark(); hw != 100 {
		t.Fatalf("after TruncateFullyAndStartAt(100): high watermark %d", hw)
	}
}

func TestHighWatermarkCheckpoint(t *testing.T) {
	dir := t.TempDir()
	open := func() (*segment.LogDir, *segment.Log) {
		d, err := segment.OpenLogDir(dir, func(string) segment.Config { return smallConfig() }, quietLogger)
		if err != nil {
			t.Fatal(err)
		}
		l, err := d.Create(testTP, smallConfig())
		if err != nil {
			t.Fatal(err)
		}
		return d, l
	}
	d, l := open()
	for i := 0; i < 10; i++ {
		mustAppend(t, l, segmenttest.Batch(segmenttest.Values("a", "b", "c")))
	}
	l.SetHighWatermark(21)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	saved, err := segment.ReadOffsetCheckpoint(filepath.Join(dir, "replication-offset-checkpoint"))
	if err != nil || saved[testTP] != 21 {
		t.Fatalf("replication-offset-checkpoint: %v, %v", saved, err)
	}
	d, l = open()
	if hw := l.HighWatermark(); hw != 21 {
		t.Fatalf("reopened: high watermark %d, want 21", hw)
	}
	// A crash after the log was cut below the checkpointed value: the stale value is clamped.
	l.SetHighWatermark(30)
	if err := d.WriteCheckpoints(); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(12); err != nil {
		t.Fatal(err)
	}
	d.Abandon()
	d, l = open()
	if hw, end := l.HighWatermark(), l.EndOffset(); end != 12 || hw != 12 {
		t.Fatalf("after a crash: high watermark %d, end %d; want 12, 12", hw, end)
	}
	// An unreadable checkpoint costs the high watermarks, not the open: each starts at its
	// log start offset (0 here, where the old checkpoint said 30, clamped to 12).
	d.Abandon()
	if err := os.WriteFile(filepath.Join(dir, "replication-offset-checkpoint"), []byte("0\nx\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, l = open()
	if hw, start := l.HighWatermark(), l.StartOffset(); hw != start || start != 0 {
		t.Fatalf("unreadable checkpoint: high watermark %d, want the log start %d", hw, start)
	}
	d.Abandon()
}

// TestAppendAsFollowerFromCompactedLeader replicates a compacted leader, whose cleaned batches
// have offset gaps and fewer records than their offset range, and checks that a clean, which
// stops below the high watermark, leaves reads ending where they did.
func TestAppendAsFollowerFromCompactedLeader(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		w := newCompactWorkload(seed)
		cfg := compactConfig(&w.now)
		leader := openTestLog(t, t.TempDir(), cfg, 0, false)
		for i := 0; i < 200; i++ {
			w.append(t, leader)
		}
		hw := leader.SetHighWatermark(leader.EndOffset() / 2)
		if end := readToHighWatermark(t, leader); end > hw {
			t.Fatalf("seed %d: reads end at %d, past the high watermark %d", seed, end, hw)
		}
		w.clean(t, leader)
		if w.checkpoint > hw || w.checkpoint == 0 {
			t.Fatalf("seed %d: the clean ended at %d, want in (0, the high watermark %d]", seed, w.checkpoint, hw)
		}
		var want int64 // the end of the last batch wholly below the high watermark
		for _, b := range readAllBatches(t, leader, 0, false) {
			if h, _ := segment.ParseBatchHeader(b); h.LastOffset() < hw {
				want = h.LastOffset() + 1
			}
		}
		if end := readToHighWatermark(t, leader); end != want || leader.HighWatermark() != hw {
			t.Fatalf("seed %d: after a clean, high watermark %d, reads end at %d; want %d, %d", seed, leader.HighWatermark(), end, hw, want)
		}
		follower := openTestLog(t, t.TempDir(), smallConfig(), 0, false)
		replicate(t, rand.New(rand.NewSource(seed)), leader, follower)
		lb, fb := readAllBatches(t, leader, 0, false), readAllBatches(t, follower, 0, false)
		equalBatches(t, fb, lb)
		if leader.EndOffset() != follower.EndOffset() {
			t.Fatalf("seed %d: follower ends at %d, leader at %d", seed, follower.EndOffset(), leader.EndOffset())
		}
	}
}

// TestHighWatermarkConcurrentReads reads with UpToHighWatermark while a follower appends and
// its high watermark follows: no read returns a batch at or past the high watermark it saw
// afterwards (it only grows here).
func TestHighWatermarkConcurrentReads(t *testing.T) {
	l := openTestLog(t, t.TempDir(), smallConfig(), 0, false)
	done := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		defer close(done)
		for i := int64(0); i < 2000; i++ {
			if _, err := l.AppendAsFollower(leaderBatch(2*i, 1, "a", "b")); err != nil {
				errs <- err
				return
			}
			l.SetHighWatermark(2*i + 1) // inside the batch just appended
		}
	}()
	for offset := int64(0); ; {
		select {
		case <-done:
			select {
			case err := <-errs:
				t.Fatal(err)
			default:
			}
			return
		default:
		}
		rr, err := l.Read(offset, 1<<20, segment.ReadOptions{UpToHighWatermark: true})
		if err != nil {
			t.Fatalf("Read(%d): %v", offset, err)
		}
		batches := splitBatches(rangeBytes(t, &rr))
		hw := l.HighWatermark()
		for _, b := range batches {
			h, _ := segment.ParseBatchHeader(b)
			if h.LastOffset() >= hw {
				t.Fatalf("Read(%d) returned offsets [%d, %d], high watermark %d", offset, h.BaseOffset, h.LastOffset(), hw)
			}
			offset = max(offset, h.LastOffset()+1)
		}
	}
}

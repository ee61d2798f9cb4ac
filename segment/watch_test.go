package segment_test

import (
	"math/rand"
	"path/filepath"
	"slices"
	"testing"

	"runnel/segment"
)

// TestWatchTagged: logs watched under tags of one WakeSet mark their tags
// when they change (append, sync, a raised log start offset) and wake the
// set; Take gives each marked tag once, in order, and clears it; a log
// unwatched marks nothing more. Changes counts every change, watched or
// not.
func TestWatchTagged(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(7))
	logs := make([]*segment.Log, 3)
	for i := range logs {
		logs[i] = openTestLog(t, filepath.Join(dir, string(rune('a'+i))), smallConfig(), 0, true)
	}
	set := segment.NewWakeSet(200)
	tags := []int{5, 64, 199} // across words of the set's marks
	for i, l := range logs {
		l.WatchTagged(set, tags[i])
	}
	take := func() []int {
		var got []int
		n := set.Take(func(tag int) { got = append(got, tag) })
		if n != len(got) {
			t.Fatalf("Take returned %d for %d tags", n, len(got))
		}
		return got
	}
	if woken(set.C) || len(take()) != 0 {
		t.Fatal("woken before any change")
	}
	before := logs[2].Changes()
	mustAppend(t, logs[2], randomBatch(rng, 100, 1))
	mustAppend(t, logs[0], randomBatch(rng, 100, 1))
	mustAppend(t, logs[2], randomBatch(rng, 100, 1))
	if !woken(set.C) {
		t.Fatal("not woken by appends")
	}
	if got := take(); !slices.Equal(got, []int{5, 199}) {
		t.Fatalf("took %v, want [5 199]", got)
	}
	if got := take(); len(got) != 0 {
		t.Fatalf("took %v again", got)
	}
	if logs[2].Changes() != before+2 {
		t.Fatalf("log changed %d times for 2 appends", logs[2].Changes()-before)
	}
	mustAppend(t, logs[1], randomBatch(rng, 100, 1))
	take()
	if _, err := logs[1].Sync(); err != nil {
		t.Fatal(err)
	}
	if got := take(); !slices.Equal(got, []int{64}) {
		t.Fatalf("a sync marked %v, want [64]", got)
	}
	if _, err := logs[1].DeleteRecordsBefore(1); err != nil {
		t.Fatal(err)
	}
	if got := take(); !slices.Equal(got, []int{64}) {
		t.Fatalf("a new log start offset marked %v, want [64]", got)
	}
	for i, l := range logs {
		l.UnwatchTagged(set, tags[i])
	}
	woken(set.C)
	mustAppend(t, logs[0], randomBatch(rng, 100, 1))
	if woken(set.C) || len(take()) != 0 {
		t.Fatal("woken after UnwatchTagged")
	}
}

// TestWatchTaggedNoAppends: a watcher registered without appends (a reader
// up to the flushed offset or the high watermark) is not woken or marked by
// an append, which moves only the log end, and its count does not move; it
// is by a sync, a new high watermark or a new log start offset. A watcher
// of every change on the same log is woken by the append.
func TestWatchTaggedNoAppends(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	l := openTestLog(t, t.TempDir(), smallConfig(), 0, true)
	bounded, all := segment.NewWakeSet(4), segment.NewWakeSet(4)
	l.WatchTaggedNoAppends(bounded, 3)
	l.WatchTagged(all, 1)
	take := func(set *segment.WakeSet) []int {
		var got []int
		set.Take(func(tag int) { got = append(got, tag) })
		return got
	}
	changes, bounds := l.Changes(), l.ChangesNoAppends()
	mustAppend(t, l, randomBatch(rng, 100, 1))
	if woken(bounded.C) || len(take(bounded)) != 0 {
		t.Fatal("an append woke a watcher without appends")
	}
	if l.ChangesNoAppends() != bounds {
		t.Fatal("an append counted in ChangesNoAppends")
	}
	if !woken(all.C) || !slices.Equal(take(all), []int{1}) || l.Changes() != changes+1 {
		t.Fatal("an append did not wake, mark and count for a watcher of every change")
	}
	for _, change := range []struct {
		name string
		do   func() error
	}{
		{"a sync", func() error { _, err := l.Sync(); return err }},
		{"a new high watermark", func() error { l.SetHighWatermark(l.EndOffset()); return nil }},
		{"a new log start offset", func() error { _, err := l.DeleteRecordsBefore(1); return err }},
	} {
		bounds = l.ChangesNoAppends()
		if err := change.do(); err != nil {
			t.Fatal(err)
		}
		if !woken(bounded.C) || !slices.Equal(take(bounded), []int{3}) || l.ChangesNoAppends() != bounds+1 {
			t.Fatalf("%s did not wake, mark and count for a watcher without appends", change.name)
		}
		woken(all.C)
		take(all)
	}
	l.UnwatchTaggedNoAppends(bounded, 3)
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, randomBatch(rng, 100, 1))
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if woken(bounded.C) || len(take(bounded)) != 0 {
		t.Fatal("woken after UnwatchTaggedNoAppends")
	}
	l.UnwatchTagged(all, 1)
}

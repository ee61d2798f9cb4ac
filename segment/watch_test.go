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

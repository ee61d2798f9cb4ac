package quorum

import (
	"errors"
	"testing"

	"go.etcd.io/raft/v3"
)

func TestEntryBatchesRoundTrip(t *testing.T) {
	s := openStorage(t, t.TempDir())
	want := entries(1, 1, 1, 2, 2, 3)
	if err := s.Append(want); err != nil {
		t.Fatal(err)
	}
	b, err := s.EntryBatches(2, 6, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEntryBatches(b)
	if err != nil {
		t.Fatal(err)
	}
	requireEntries(t, "entries 2-5", got, want[1:5])

	// maxBytes: at least one batch, then whole batches within the limit.
	one, err := s.EntryBatches(2, 6, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := DecodeEntryBatches(one); len(got) != 1 {
		t.Fatalf("maxBytes 1 gave %d entries, want 1", len(got))
	}
	two, _ := s.EntryBatches(2, 6, 2*len(one))
	if got, _ := DecodeEntryBatches(two); len(got) != 2 {
		t.Fatalf("maxBytes of two batches gave %d entries", len(got))
	}

	// A batch cut short at the end is ignored; a flipped byte is an error.
	if got, err := DecodeEntryBatches(b[:len(b)-3]); err != nil || len(got) != 3 {
		t.Fatalf("cut batch: %d entries, %v; want 3 and no error", len(got), err)
	}
	bad := append([]byte(nil), b...)
	bad[len(one)-1] ^= 1
	if _, err := DecodeEntryBatches(bad); err == nil {
		t.Fatal("a corrupt batch decoded")
	}

	if _, err := s.CreateSnapshot(3, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EntryBatches(3, 6, 1<<20); !errors.Is(err, raft.ErrCompacted) {
		t.Fatalf("below the first index: %v, want ErrCompacted", err)
	}
	if _, err := s.EntryBatches(4, 8, 1<<20); !errors.Is(err, raft.ErrUnavailable) {
		t.Fatalf("past the last index: %v, want ErrUnavailable", err)
	}
}

package quorum

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"runnel/io/disk/faultfs"
	"runnel/segment"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// smallSegments rolls often, so that the tests cross segment boundaries.
func smallSegments() segment.Config {
	c := segment.DefaultConfig()
	c.SegmentBytes = 16 << 10
	c.PreallocateBytes = 4 << 10
	c.SegmentIndexBytes = 1024
	c.IndexIntervalBytes = 512
	return c
}

func openStorage(t testing.TB, dir string) *Storage {
	t.Helper()
	s, err := Open(dir, Options{Segment: smallSegments(), Logger: quietLogger})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// entries returns entries from index first on with the terms given and some data.
func entries(first uint64, terms ...uint64) []*pb.Entry {
	ents := make([]*pb.Entry, len(terms))
	for i, term := range terms {
		index := first + uint64(i)
		ents[i] = &pb.Entry{Index: new(index), Term: new(term), Type: pb.EntryType_EntryNormal.Enum(),
			Data: fmt.Appendf(nil, "entry %d term %d", index, term)}
	}
	return ents
}

// withDummy makes a storage whose log is terms[0] at index first (the snapshot's entry, as
// etcd's tests make a MemoryStorage whose first entry is a dummy) and then terms[1:].
func withDummy(t *testing.T, first uint64, terms ...uint64) *Storage {
	t.Helper()
	s := openStorage(t, t.TempDir())
	snap := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: new(first), Term: new(terms[0]), ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}
	if err := s.ApplySnapshot(snap); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(entries(first+1, terms[1:]...)); err != nil {
		t.Fatal(err)
	}
	return s
}

func requireEntries(t *testing.T, what string, got, want []*pb.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("%s: entry %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}

// allEntries reads every entry the storage holds.
func allEntries(t *testing.T, s *Storage) []*pb.Entry {
	t.Helper()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if last < first {
		return nil
	}
	ents, err := s.Entries(first, last+1, math.MaxUint64)
	if err != nil {
		t.Fatalf("Entries(%d, %d): %v", first, last+1, err)
	}
	return ents
}

func TestStorageTerm(t *testing.T) {
	s := withDummy(t, 3, 3, 4, 5)
	for _, tc := range []struct {
		i    uint64
		err  error
		term uint64
	}{
		{2, raft.ErrCompacted, 0},
		{3, nil, 3},
		{4, nil, 4},
		{5, nil, 5},
		{6, raft.ErrUnavailable, 0},
	} {
		term, err := s.Term(tc.i)
		if err != tc.err || term != tc.term {
			t.Errorf("Term(%d) = %d, %v; want %d, %v", tc.i, term, err, tc.term, tc.err)
		}
	}
}

func TestStorageEntries(t *testing.T) {
	s := withDummy(t, 3, 3, 4, 5, 6)
	all := entries(4, 4, 5, 6)
	size := func(ents ...*pb.Entry) (n uint64) {
		for _, e := range ents {
			n += uint64(proto.Size(e))
		}
		return n
	}
	for _, tc := range []struct {
		lo, hi, maxSize uint64
		err             error
		want            []*pb.Entry
	}{
		{2, 6, math.MaxUint64, raft.ErrCompacted, nil},
		{3, 4, math.MaxUint64, raft.ErrCompacted, nil},
		{4, 5, math.MaxUint64, nil, all[:1]},
		{4, 6, math.MaxUint64, nil, all[:2]},
		{4, 7, math.MaxUint64, nil, all},
		{5, 7, math.MaxUint64, nil, all[1:]},
		{4, 8, math.MaxUint64, raft.ErrUnavailable, nil},
		{4, 7, 0, nil, all[:1]}, // at least one entry
		{4, 7, size(all[0], all[1]), nil, all[:2]},
		{4, 7, size(all[0], all[1]) + size(all[2])/2, nil, all[:2]},
		{4, 7, size(all...) - 1, nil, all[:2]},
		{4, 7, size(all...), nil, all},
	} {
		got, err := s.Entries(tc.lo, tc.hi, tc.maxSize)
		if err != tc.err {
			t.Fatalf("Entries(%d, %d, %d): error %v, want %v", tc.lo, tc.hi, tc.maxSize, err, tc.err)
		}
		requireEntries(t, fmt.Sprintf("Entries(%d, %d, %d)", tc.lo, tc.hi, tc.maxSize), got, tc.want)
	}
}

func TestStorageFirstAndLastIndex(t *testing.T) {
	s := withDummy(t, 3, 3, 4, 5)
	check := func(wantFirst, wantLast uint64) {
		t.Helper()
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		if first != wantFirst || last != wantLast {
			t.Fatalf("first %d last %d, want %d %d", first, last, wantFirst, wantLast)
		}
	}
	check(4, 5)
	if err := s.Append(entries(6, 5)); err != nil {
		t.Fatal(err)
	}
	check(4, 6)
	if _, err := s.CreateSnapshot(5, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(4); err != nil {
		t.Fatal(err)
	}
	check(5, 6)
}

func TestStorageCompact(t *testing.T) {
	for _, tc := range []struct {
		i                   uint64
		err                 error
		wantFirst, wantTerm uint64 // first index, and the term of the entry before it
	}{
		{2, raft.ErrCompacted, 4, 3},
		{3, raft.ErrCompacted, 4, 3},
		{4, nil, 5, 4},
		{5, nil, 6, 5},
	} {
		s := withDummy(t, 3, 3, 4, 5)
		if _, err := s.CreateSnapshot(5, nil, []byte("state")); err != nil {
			t.Fatal(err)
		}
		if err := s.Compact(tc.i); err != tc.err {
			t.Fatalf("Compact(%d): %v, want %v", tc.i, err, tc.err)
		}
		first, _ := s.FirstIndex()
		term, err := s.Term(first - 1)
		if first != tc.wantFirst || err != nil || term != tc.wantTerm {
			t.Fatalf("after Compact(%d): first %d, Term(first-1) %d %v; want %d, %d", tc.i, first, term, err, tc.wantFirst, tc.wantTerm)
		}
	}
	s := withDummy(t, 3, 3, 4, 5)
	if err := s.Compact(4); err == nil {
		t.Fatal("Compact past the snapshot succeeded")
	}
}

func TestStorageCreateSnapshot(t *testing.T) {
	cs := &pb.ConfState{Voters: []uint64{1, 2, 3}}
	for _, i := range []uint64{4, 5} {
		dir := t.TempDir()
		s := openStorage(t, dir)
		if err := s.Append(entries(1, 1, 2, 3, 4, 5)); err != nil {
			t.Fatal(err)
		}
		want := &pb.Snapshot{Data: []byte("data"), Metadata: &pb.SnapshotMetadata{Index: new(i), Term: new(i), ConfState: pb.EnsureConfState(proto.Clone(cs).(*pb.ConfState))}}
		snap, err := s.CreateSnapshot(i, cs, []byte("data"))
		if err != nil || !proto.Equal(snap, want) {
			t.Fatalf("CreateSnapshot(%d) = %v, %v; want %v", i, snap, err, want)
		}
		if _, err := s.CreateSnapshot(i, cs, nil); err != raft.ErrSnapOutOfDate {
			t.Fatalf("second CreateSnapshot(%d): %v, want ErrSnapOutOfDate", i, err)
		}
		if _, err := s.CreateSnapshot(6, cs, nil); err == nil {
			t.Fatal("CreateSnapshot past the last index succeeded")
		}
		s.Close()
		r := openStorage(t, dir)
		got, _ := r.Snapshot()
		if !proto.Equal(got, want) {
			t.Fatalf("reopened snapshot %v, want %v", got, want)
		}
		matches, _ := filepath.Glob(filepath.Join(dir, "*.checkpoint"))
		if len(matches) != 1 || filepath.Base(matches[0]) != snapshotName(i, i) {
			t.Fatalf("snapshot files %v, want one named %s", matches, snapshotName(i, i))
		}
	}
}

func TestStorageAppend(t *testing.T) {
	for _, tc := range []struct {
		name   string
		append []*pb.Entry
		want   []*pb.Entry // from index 4 on
	}{
		{"entries all compacted", entries(1, 1, 2), entries(4, 4, 5)},
		{"the same entries", entries(3, 3, 4, 5), entries(4, 4, 5)},
		{"conflicting terms replace the tail", entries(3, 3, 6, 6), entries(4, 6, 6)},
		{"one more", entries(3, 3, 4, 5, 5), entries(4, 4, 5, 5)},
		{"compacted head dropped, tail replaced", entries(2, 3, 3, 5), entries(4, 5)},
		{"replace the last", entries(4, 5), entries(4, 5)},
		{"direct append", entries(6, 5), append(entries(4, 4, 5), entries(6, 5)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := withDummy(t, 3, 3, 4, 5)
			if err := s.Append(tc.append); err != nil {
				t.Fatal(err)
			}
			requireEntries(t, "after Append", allEntries(t, s), tc.want)
			dir := s.dir
			s.Close()
			requireEntries(t, "after reopen", allEntries(t, openStorage(t, dir)), tc.want)
		})
	}
	s := withDummy(t, 3, 3, 4, 5)
	if err := s.Append(entries(7, 5)); err == nil {
		t.Fatal("Append leaving a gap succeeded")
	}
}

func TestStorageApplySnapshot(t *testing.T) {
	cs := &pb.ConfState{Voters: []uint64{1, 2, 3}}
	snapAt := func(index, term uint64) *pb.Snapshot {
		return &pb.Snapshot{Data: []byte("data"), Metadata: &pb.SnapshotMetadata{Index: new(index), Term: new(term), ConfState: cs}}
	}
	dir := t.TempDir()
	s := openStorage(t, dir)
	// Bootstrap with a ConfState only (index and term 0).
	if err := s.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: cs}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(entries(1, 1, 1, 2)); err != nil {
		t.Fatal(err)
	}
	// A snapshot past the log end: the log restarts after it.
	if err := s.ApplySnapshot(snapAt(10, 4)); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplySnapshot(snapAt(9, 4)); err != raft.ErrSnapOutOfDate {
		t.Fatalf("older snapshot: %v, want ErrSnapOutOfDate", err)
	}
	if err := s.Append(entries(11, 4, 5)); err != nil {
		t.Fatal(err)
	}
	check := func(s *Storage) {
		t.Helper()
		first, _ := s.FirstIndex()
		term, err := s.Term(10)
		if first != 11 || term != 4 || err != nil {
			t.Fatalf("first %d, Term(10) = %d %v; want 11, 4", first, term, err)
		}
		requireEntries(t, "entries", allEntries(t, s), entries(11, 4, 5))
		_, gotCS, _ := s.InitialState()
		if !proto.Equal(gotCS, pb.EnsureConfState(proto.Clone(cs).(*pb.ConfState))) {
			t.Fatalf("ConfState %v", gotCS)
		}
	}
	check(s)
	s.Close()
	check(openStorage(t, dir))
}

// TestStorageReopen writes many entries across segments and terms, truncates a tail,
// snapshots and compacts, and checks that a reopen gives back exactly the same.
func TestStorageReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir)
	var want []*pb.Entry
	term := uint64(1)
	for len(want) < 600 {
		if len(want) > 0 && len(want)%97 == 0 {
			term++
		}
		ents := entries(uint64(len(want))+1, term, term, term)
		ents[1].Type = pb.EntryType_EntryConfChange.Enum()
		ents[2].Data = nil // an empty entry, as a new leader appends
		want = append(want, ents...)
		if err := s.Append(ents); err != nil {
			t.Fatal(err)
		}
	}
	// A new leader replaces the last 50 entries.
	term++
	repl := entries(uint64(len(want))-49, term, term, term)
	want = append(want[:len(want)-50], repl...)
	if err := s.Append(repl); err != nil {
		t.Fatal(err)
	}
	hs := &pb.HardState{Term: new(term), Vote: new(uint64(2)), Commit: new(uint64(500))}
	if err := s.SetHardState(hs); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSnapshot(300, &pb.ConfState{Voters: []uint64{1, 2, 3}}, []byte("state at 300")); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(300); err != nil {
		t.Fatal(err)
	}
	wantSnap, _ := s.Snapshot()
	want = want[300:]
	requireEntries(t, "before reopen", allEntries(t, s), want)
	s.Close()

	r := openStorage(t, dir)
	requireEntries(t, "after reopen", allEntries(t, r), want)
	gotHS, _, _ := r.InitialState()
	if !proto.Equal(gotHS, hs) {
		t.Fatalf("HardState %v, want %v", gotHS, hs)
	}
	if got, _ := r.Snapshot(); !proto.Equal(got, wantSnap) {
		t.Fatalf("snapshot %v, want %v", got, wantSnap)
	}
	for _, e := range want {
		if term, err := r.Term(e.GetIndex()); err != nil || term != e.GetTerm() {
			t.Fatalf("Term(%d) = %d, %v; want %d", e.GetIndex(), term, err, e.GetTerm())
		}
	}
}

// storageModel is what a Storage has reported durable.
type storageModel struct {
	ents      map[uint64]*pb.Entry
	last      uint64
	hard      *pb.HardState
	snapIndex uint64
	maxTerm   uint64
}

// TestStorageCrash runs a random script of appends (some replacing a tail), HardState
// changes and snapshots over a crashable file system, fails the k-th fdatasync and cuts the
// power right after. The storage reopened from what was durable must hold every entry, the
// HardState and the snapshot it reported written; of the operation that failed, it may hold
// the result or not, never anything else.
func TestStorageCrash(t *testing.T) {
	for k := 1; k <= 30; k++ {
		t.Run(fmt.Sprint("fdatasync ", k), func(t *testing.T) {
			root := t.TempDir()
			fs := faultfs.NewCrashable(root)
			cfg := smallSegments()
			cfg.FS = fs
			dir := filepath.Join(root, Partition.DirName())
			s, err := Open(dir, Options{Segment: cfg, Logger: quietLogger})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			fs.Inject(faultfs.Rule{Op: faultfs.Fdatasync, Nth: k})
			rng := rand.New(rand.NewSource(int64(k)))
			m := storageModel{ents: map[uint64]*pb.Entry{}, hard: &pb.HardState{Term: new(uint64(0)), Vote: new(uint64(0)), Commit: new(uint64(0))}, maxTerm: 1}
			var pendingAppend []*pb.Entry
			var pendingHard *pb.HardState
			for op := 0; ; op++ {
				if op > 200 {
					t.Fatalf("fdatasync %d never came", k)
				}
				commit := m.hard.GetCommit()
				switch r := rng.Intn(10); {
				case r < 6 || m.last == commit:
					from := max(commit+1, m.last-min(m.last, uint64(rng.Intn(4)))) // replace up to 3 uncommitted entries
					if rng.Intn(3) == 0 {
						m.maxTerm++
					}
					terms := make([]uint64, 1+rng.Intn(20))
					for i := range terms {
						terms[i] = m.maxTerm
					}
					ents := entries(from, terms...)
					pendingAppend = ents
					if err := s.Append(ents); err != nil {
						goto crash
					}
					pendingAppend = nil
					for i := from; i <= m.last; i++ {
						delete(m.ents, i)
					}
					for _, e := range ents {
						m.ents[e.GetIndex()] = e
					}
					m.last = ents[len(ents)-1].GetIndex()
				case r < 8:
					hs := &pb.HardState{Term: new(m.maxTerm), Vote: new(uint64(1 + rng.Intn(3))), Commit: new(commit + uint64(rng.Int63n(int64(m.last-commit+1))))}
					pendingHard = hs
					if err := s.SetHardState(hs); err != nil {
						goto crash
					}
					pendingHard = nil
					m.hard = hs
				default:
					if commit <= m.snapIndex {
						continue
					}
					if _, err := s.CreateSnapshot(commit, nil, []byte("state")); err != nil {
						t.Fatalf("CreateSnapshot: %v", err) // it writes no segment file
					}
					if err := s.Compact(commit); err != nil {
						goto crash
					}
					m.snapIndex = commit
				}
			}
		crash:
			clone := filepath.Join(t.TempDir(), "clone")
			if err := fs.CrashClone(clone); err != nil {
				t.Fatal(err)
			}
			r := openStorage(t, filepath.Join(clone, Partition.DirName()))
			snap, _ := r.Snapshot()
			if snap.GetMetadata().GetIndex() < m.snapIndex {
				t.Fatalf("snapshot at %d, reported %d", snap.GetMetadata().GetIndex(), m.snapIndex)
			}
			hs, _, _ := r.InitialState()
			if !proto.Equal(hs, m.hard) && (pendingHard == nil || !proto.Equal(hs, pendingHard)) {
				t.Fatalf("HardState %v, reported %v", hs, m.hard)
			}
			first, _ := r.FirstIndex()
			last, _ := r.LastIndex()
			replaced := m.last + 1 // entries from here on may be gone: the failed append replaced them
			if pendingAppend != nil {
				replaced = pendingAppend[0].GetIndex()
			}
			if last < min(m.last, replaced-1) {
				t.Fatalf("log ends at %d, entries to %d were reported written", last, min(m.last, replaced-1))
			}
			var got []*pb.Entry
			if last >= first {
				got = allEntries(t, r)
			}
			// From replaced on, the log holds the old entries (the truncation was not durable)
			// then possibly a prefix of the failed append's; nothing else.
			old := true
			for _, e := range got {
				i := e.GetIndex()
				if i < replaced {
					if !proto.Equal(e, m.ents[i]) {
						t.Fatalf("entry %d is %v, reported %v", i, e, m.ents[i])
					}
					continue
				}
				old = old && proto.Equal(e, m.ents[i])
				if !old && (i-replaced >= uint64(len(pendingAppend)) || !proto.Equal(e, pendingAppend[i-replaced])) {
					t.Fatalf("entry %d is %v: neither the old one nor the failed append's", i, e)
				}
			}
		})
	}
}

// TestStorageRefusesCorruptState: files this package did not write are errors, not panics.
func TestStorageRefusesCorruptState(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir)
	if err := s.Append(entries(1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := writeState(filepath.Join(dir, StateFile), &pb.HardState{Term: new(uint64(1)), Commit: new(uint64(5))}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{Segment: smallSegments(), Logger: quietLogger}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("commit past the log end: %v, want ErrCorrupt", err)
	}
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{Segment: smallSegments(), Logger: quietLogger}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("quorum-state not JSON: %v, want ErrCorrupt", err)
	}
	os.Remove(filepath.Join(dir, StateFile))
	if err := os.WriteFile(filepath.Join(dir, snapshotName(1, 1)), []byte("not a batch"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{Segment: smallSegments(), Logger: quietLogger}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("snapshot file not a batch: %v, want ErrCorrupt", err)
	}
}

// TestStorageCommitCoversSnapshot: a crash between ApplySnapshot and SetHardState leaves
// quorum-state's commit below the snapshot; the reopened storage reports the snapshot's
// index as committed, since Raft refuses (panics on) a commit index below its first entry.
func TestStorageCommitCoversSnapshot(t *testing.T) {
	dir := t.TempDir()
	s := openStorage(t, dir)
	if err := s.SetHardState(&pb.HardState{Term: new(uint64(2)), Vote: new(uint64(1)), Commit: new(uint64(0))}); err != nil {
		t.Fatal(err)
	}
	snap := &pb.Snapshot{Data: []byte("state"), Metadata: &pb.SnapshotMetadata{Index: new(uint64(10)), Term: new(uint64(2)), ConfState: &pb.ConfState{Voters: []uint64{1}}}}
	if err := s.ApplySnapshot(snap); err != nil {
		t.Fatal(err)
	}
	s.Close()
	hs, _, err := openStorage(t, dir).InitialState()
	if err != nil || hs.GetCommit() != 10 || hs.GetTerm() != 2 || hs.GetVote() != 1 {
		t.Fatalf("InitialState() = %v, %v; want commit 10, term 2, vote 1", hs, err)
	}
}

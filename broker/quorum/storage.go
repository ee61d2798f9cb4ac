package quorum

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"runnel/io/disk"
	"runnel/segment"
)

// Partition is the metadata log's partition, as KRaft names it.
var Partition = segment.TopicPartition{Topic: "__cluster_metadata", Partition: 0}

// StateFile is the name of the file that holds the Raft HardState, beside the log.
const StateFile = "quorum-state"

// ErrCorrupt is wrapped by errors about files that do not hold what this package wrote.
var ErrCorrupt = errors.New("quorum: corrupt metadata log")

// Options configures a Storage.
type Options struct {
	// Segment configures the log's segments; the zero value means segment.DefaultConfig.
	// Retention settings are ignored: the log is only ever compacted below a snapshot.
	Segment segment.Config
	Logger  *slog.Logger // nil: slog.Default()
}

// Storage is a raft.Storage kept in a partition directory written with segment (doc.go): the
// log of entries, the HardState in quorum-state and the latest snapshot in a .checkpoint
// file. Every method that changes it returns once the change is durable. It is safe for
// concurrent use: raft reads it from its goroutine while the Ready loop writes it.
type Storage struct {
	dir    string
	logger *slog.Logger

	mu    sync.Mutex
	log   *segment.Log
	hard  *pb.HardState
	snap  *pb.Snapshot // the latest snapshot (an empty one at index 0 before any)
	first uint64       // the first index Entries can return
	last  uint64       // the last index in the log (snapshot index when empty)
	terms []termRun    // the terms of [first-1, last]: terms[0].first <= first-1
	buf   []byte       // read buffer
}

// termRun says that the entries from index first on, up to the next run, have term term.
type termRun struct{ term, first uint64 }

// readChunk is how many bytes of the log one read brings in.
const readChunk = 1 << 20

// Open opens (creating if needed) the storage in dir, the partition directory
// (Partition.DirName() under the metadata log directory). It gives back exactly what was
// durable: the latest snapshot, the log after it and the last HardState.
func Open(dir string, opts Options) (*Storage, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	cfg := opts.Segment
	if cfg.SegmentBytes == 0 {
		cfg = segment.DefaultConfig()
	}
	cfg.RetentionMs, cfg.RetentionBytes = -1, -1
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("quorum: %w", err)
	}
	s := &Storage{dir: dir, logger: logger}
	var err error
	if s.snap, err = loadSnapshot(dir, logger); err != nil {
		return nil, err
	}
	if s.hard, err = readState(filepath.Join(dir, StateFile)); err != nil {
		return nil, err
	}
	// recoveryPoint 0 and not clean: every batch is validated. The metadata log is small.
	if s.log, err = segment.OpenLog(dir, Partition, cfg, 0, false, logger); err != nil {
		return nil, fmt.Errorf("quorum: %w", err)
	}
	if err := s.load(); err != nil {
		s.log.Close()
		return nil, err
	}
	return s, nil
}

// load lines the log up with the snapshot and reads the terms of its entries.
func (s *Storage) load() error {
	snapIndex, snapTerm := s.snap.GetMetadata().GetIndex(), s.snap.GetMetadata().GetTerm()
	start, end := s.log.StartOffset(), s.log.EndOffset()
	// The log must hold the entries right after the snapshot: offset snapIndex on.
	if uint64(start) > snapIndex {
		return fmt.Errorf("%w: %s starts at index %d, after the snapshot at %d", ErrCorrupt, s.dir, start+1, snapIndex)
	}
	restart := uint64(end) < snapIndex // the log ends before the snapshot
	if !restart && snapIndex > 0 && uint64(start) < snapIndex {
		term, err := s.termAt(int64(snapIndex) - 1)
		if err != nil {
			return err
		}
		restart = term != snapTerm // the log's entry at the snapshot index is not the snapshot's
	}
	if restart {
		// A snapshot installed from the leader whose log truncation a crash undid.
		if err := s.log.TruncateFullyAndStartAt(int64(snapIndex)); err != nil {
			return fmt.Errorf("quorum: %w", err)
		}
		if _, err := s.log.Sync(); err != nil {
			return fmt.Errorf("quorum: %w", err)
		}
	} else if uint64(start) < snapIndex {
		if _, err := s.log.DeleteRecordsBefore(int64(snapIndex)); err != nil {
			return fmt.Errorf("quorum: %w", err)
		}
	}
	s.first, s.last = snapIndex+1, snapIndex
	s.terms = []termRun{{term: snapTerm, first: snapIndex}}
	err := s.scan(int64(snapIndex), s.log.EndOffset(), func(h segment.BatchHeader, _ []byte) (bool, error) {
		if err := s.checkHeader(h); err != nil {
			return false, err
		}
		s.noteTerm(uint64(h.PartitionLeaderEpoch), uint64(h.BaseOffset)+1)
		s.last = uint64(h.BaseOffset) + 1
		return true, nil
	})
	if err != nil {
		return err
	}
	if c := s.hard.GetCommit(); c > s.last {
		return fmt.Errorf("%w: %s commits index %d but the log ends at %d", ErrCorrupt, s.dir, c, s.last)
	}
	if s.hard.GetCommit() < snapIndex {
		// A snapshot holds only committed entries; quorum-state may lag it (a crash after
		// ApplySnapshot, or a commit-only HardState not written), and Raft wants the commit
		// index within [snapshot, last].
		s.hard.Commit = new(snapIndex)
	}
	return nil
}

// checkHeader checks that a batch is one of ours: one entry, a term no lower than the last.
func (s *Storage) checkHeader(h segment.BatchHeader) error {
	if h.LastOffsetDelta != 0 || h.PartitionLeaderEpoch < 0 || uint64(h.PartitionLeaderEpoch) < s.terms[len(s.terms)-1].term {
		return fmt.Errorf("%w: %s: batch at offset %d (last offset delta %d, epoch %d) is not a Raft entry in term order",
			ErrCorrupt, s.dir, h.BaseOffset, h.LastOffsetDelta, h.PartitionLeaderEpoch)
	}
	return nil
}

// noteTerm records that index has term, extending the term runs.
func (s *Storage) noteTerm(term, index uint64) {
	if s.terms[len(s.terms)-1].term != term {
		s.terms = append(s.terms, termRun{term: term, first: index})
	}
}

// scan calls fn with every batch from offset from (the batch holding it) up to offset to,
// until fn returns false.
func (s *Storage) scan(from, to int64, fn func(h segment.BatchHeader, batch []byte) (bool, error)) error {
	for off := from; off < to; {
		r, err := s.log.Read(off, readChunk, segment.ReadOptions{MinOneBatch: true})
		if err != nil {
			return fmt.Errorf("quorum: reading offset %d: %w", off, err)
		}
		n := int(r.Range.Size)
		if cap(s.buf) < n {
			s.buf = make([]byte, n)
		}
		buf := s.buf[:n]
		_, err = r.Range.File.ReadAt(buf, r.Range.Position)
		r.Release()
		if err != nil {
			return fmt.Errorf("quorum: reading offset %d: %w", off, err)
		}
		progress := off
		for p := 0; p+segment.BatchHeaderSize <= n && off < to; {
			h, err := segment.ParseBatchHeader(buf[p:])
			if err != nil {
				return fmt.Errorf("%w: %s offset %d: %w", ErrCorrupt, s.dir, off, err)
			}
			if p+h.Size() > n {
				break // cut by the chunk: the next read starts with it
			}
			if h.LastOffset() >= off {
				more, err := fn(h, buf[p:p+h.Size()])
				if err != nil || !more {
					return err
				}
				off = h.LastOffset() + 1
			}
			p += h.Size()
		}
		if off == progress {
			return fmt.Errorf("%w: %s: no batch readable at offset %d", ErrCorrupt, s.dir, off)
		}
	}
	return nil
}

// termAt reads the term of the batch at offset.
func (s *Storage) termAt(offset int64) (uint64, error) {
	var term uint64
	err := s.scan(offset, offset+1, func(h segment.BatchHeader, _ []byte) (bool, error) {
		term = uint64(max(h.PartitionLeaderEpoch, 0))
		return false, nil
	})
	return term, err
}

// InitialState implements raft.Storage.
func (s *Storage) InitialState() (*pb.HardState, *pb.ConfState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.Clone(s.hard).(*pb.HardState), proto.Clone(pb.EnsureConfState(s.snap.GetMetadata().GetConfState())).(*pb.ConfState), nil
}

// checkRange is raft.ErrCompacted when lo is below the first index the log
// still holds, raft.ErrUnavailable when [lo, hi) is empty or reaches past
// the last; s.mu is held.
func (s *Storage) checkRange(lo, hi uint64) error {
	if lo < s.first {
		return raft.ErrCompacted
	}
	if hi > s.last+1 || lo >= hi {
		return raft.ErrUnavailable
	}
	return nil
}

// Entries implements raft.Storage: the entries [lo, hi), read from the log, at least one and
// otherwise no more than maxSize bytes in their protobuf encoding. A failed read halts the
// process (halt).
func (s *Storage) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkRange(lo, hi); err != nil {
		return nil, err
	}
	var (
		ents []*pb.Entry
		size uint64
	)
	err := s.scan(int64(lo)-1, int64(hi)-1, func(h segment.BatchHeader, batch []byte) (bool, error) {
		e, err := DecodeEntry(h, batch)
		if err != nil {
			return false, fmt.Errorf("%w: %s offset %d: %w", ErrCorrupt, s.dir, h.BaseOffset, err)
		}
		size += uint64(proto.Size(e))
		if len(ents) > 0 && size > maxSize {
			return false, nil
		}
		ents = append(ents, e)
		return true, nil
	})
	if err != nil {
		s.halt(err)
	}
	return ents, nil
}

// halt ends the process when Raft's read of the log fails (a failed fdatasync took the log
// offline, a file was damaged under it): etcd's Raft panics on any Entries error but
// ErrCompacted, and a voter that cannot read its own log must not go on, so it stops the way
// Kafka's fatal fault handler does (Exit.halt): the reason logged, exit status 1, no goroutine
// dump. Restarted, the node reads what was durable (Open) or refuses to start on a damaged log.
func (s *Storage) halt(err error) {
	s.logger.Error("Encountered fatal fault: the metadata log cannot be read; halting the process", "dir", s.dir, "err", err)
	os.Exit(1)
}

// Term implements raft.Storage.
func (s *Storage) Term(i uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i+1 < s.first {
		return 0, raft.ErrCompacted
	}
	if i > s.last {
		return 0, raft.ErrUnavailable
	}
	k := len(s.terms) - 1
	for s.terms[k].first > i {
		k--
	}
	return s.terms[k].term, nil
}

// LastIndex implements raft.Storage.
func (s *Storage) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, nil
}

// FirstIndex implements raft.Storage.
func (s *Storage) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first, nil
}

// Snapshot implements raft.Storage: the latest snapshot.
func (s *Storage) Snapshot() (*pb.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.Clone(s.snap).(*pb.Snapshot), nil
}

// Append writes entries to the log and fdatasyncs it, first removing any tail of the log that
// they replace (from the index of the first entry on, as Raft asks when a new leader
// overwrites a conflicting suffix). Entries below the first index are ignored.
func (s *Storage) Append(entries []*pb.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(entries) > 0 && entries[0].GetIndex() < s.first {
		entries = entries[min(s.first-entries[0].GetIndex(), uint64(len(entries))):]
	}
	if len(entries) == 0 {
		return nil
	}
	first := entries[0].GetIndex()
	if first > s.last+1 {
		return fmt.Errorf("quorum: append at index %d leaves a gap after the last index %d", first, s.last)
	}
	if first <= s.last {
		if err := s.log.TruncateTo(int64(first) - 1); err != nil {
			return fmt.Errorf("quorum: %w", err)
		}
		s.last = first - 1
		for s.terms[len(s.terms)-1].first > s.last {
			s.terms = s.terms[:len(s.terms)-1]
		}
	}
	now := time.Now().UnixMilli()
	for i := 0; i < len(entries); {
		// One Append per term (the term is the batches' leader epoch), up to about readChunk.
		term := entries[i].GetTerm()
		if term > math.MaxInt32 || term < s.terms[len(s.terms)-1].term {
			return fmt.Errorf("quorum: entry %d has term %d, not storable after term %d", entries[i].GetIndex(), term, s.terms[len(s.terms)-1].term)
		}
		var batches []byte
		j := i
		for ; j < len(entries) && entries[j].GetTerm() == term && (j == i || len(batches) < readChunk); j++ {
			if entries[j].GetIndex() != first+uint64(j) {
				return fmt.Errorf("quorum: entry indexes not consecutive at %d", entries[j].GetIndex())
			}
			batches = appendEntry(batches, now, entries[j])
		}
		info, err := s.log.Append(batches, segment.AppendOptions{LeaderEpoch: int32(term)})
		if err != nil {
			return fmt.Errorf("quorum: %w", err)
		}
		if uint64(info.FirstOffset)+1 != entries[i].GetIndex() {
			return fmt.Errorf("quorum: entry %d landed at offset %d", entries[i].GetIndex(), info.FirstOffset)
		}
		s.noteTerm(term, entries[i].GetIndex())
		s.last = entries[j-1].GetIndex()
		i = j
	}
	if _, err := s.log.Sync(); err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	return nil
}

// SetHardState writes the HardState to quorum-state, atomically and durably.
func (s *Storage) SetHardState(st *pb.HardState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := writeState(filepath.Join(s.dir, StateFile), st); err != nil {
		return err
	}
	s.hard = proto.Clone(st).(*pb.HardState)
	return nil
}

// ApplySnapshot installs a snapshot received from the leader: it writes the snapshot file,
// then empties the log and restarts it right after the snapshot, durably.
func (s *Storage) ApplySnapshot(snap *pb.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap = pb.EnsureSnapshot(proto.Clone(snap).(*pb.Snapshot))
	index, cur := snap.GetMetadata().GetIndex(), s.snap.GetMetadata().GetIndex()
	if cur != 0 && cur >= index {
		return raft.ErrSnapOutOfDate
	}
	if err := writeSnapshot(s.dir, snap); err != nil {
		return err
	}
	if err := s.log.TruncateFullyAndStartAt(int64(index)); err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	if _, err := s.log.Sync(); err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	s.snap = snap
	s.first, s.last = index+1, index
	s.terms = []termRun{{term: snap.GetMetadata().GetTerm(), first: index}}
	removeOldSnapshots(s.dir, index, s.logger)
	return nil
}

// CreateSnapshot writes a snapshot of the state after applying entry i (at most the last
// index), with cs the configuration then and data the state machine's, and makes it the latest.
// It does not compact the log: Compact does, up to the snapshot's index.
func (s *Storage) CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i <= s.snap.GetMetadata().GetIndex() {
		return nil, raft.ErrSnapOutOfDate
	}
	if i > s.last {
		return nil, fmt.Errorf("quorum: snapshot at %d is past the last index %d", i, s.last)
	}
	k := len(s.terms) - 1
	for s.terms[k].first > i {
		k--
	}
	snap := &pb.Snapshot{Data: data, Metadata: &pb.SnapshotMetadata{
		Index: new(i), Term: new(s.terms[k].term), ConfState: proto.Clone(pb.EnsureConfState(cs)).(*pb.ConfState)}}
	if err := writeSnapshot(s.dir, snap); err != nil {
		return nil, err
	}
	s.snap = snap
	removeOldSnapshots(s.dir, i, s.logger)
	return proto.Clone(snap).(*pb.Snapshot), nil
}

// Compact discards the entries before compactIndex, which must not pass the latest
// snapshot's index: Term(compactIndex) still answers, Entries from compactIndex+1 on. The
// segments wholly below go at once; a reopen starts the log right after the snapshot.
func (s *Storage) Compact(compactIndex uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if compactIndex+1 <= s.first {
		return raft.ErrCompacted
	}
	if snapIndex := s.snap.GetMetadata().GetIndex(); compactIndex > snapIndex {
		return fmt.Errorf("quorum: compact to %d is past the snapshot at %d", compactIndex, snapIndex)
	}
	if _, err := s.log.DeleteRecordsBefore(int64(compactIndex)); err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	s.first = compactIndex + 1
	for len(s.terms) > 1 && s.terms[1].first <= compactIndex {
		s.terms = s.terms[1:]
	}
	return nil
}

// Close closes the log. Everything Storage reported written is already durable.
func (s *Storage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.Close()
}

// quorumState is quorum-state's JSON, after Kafka's file of that name: leaderEpoch is the
// Raft term, votedId the vote (0: none), and commitIndex Raft's commit index.
type quorumState struct {
	DataVersion int    `json:"data_version"`
	LeaderEpoch uint64 `json:"leaderEpoch"`
	VotedID     uint64 `json:"votedId"`
	CommitIndex uint64 `json:"commitIndex"`
}

// stateVersion is the data_version this package writes and reads.
const stateVersion = 0

func writeState(path string, st *pb.HardState) error {
	b, err := json.Marshal(quorumState{DataVersion: stateVersion, LeaderEpoch: st.GetTerm(), VotedID: st.GetVote(), CommitIndex: st.GetCommit()})
	if err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	if err := disk.WriteFileAtomic(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	return nil
}

// readState reads quorum-state; a missing file is an empty HardState.
func readState(path string) (*pb.HardState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &pb.HardState{Term: new(uint64), Vote: new(uint64), Commit: new(uint64)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("quorum: %w", err)
	}
	var q quorumState
	if err := json.Unmarshal(b, &q); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	if q.DataVersion != stateVersion {
		return nil, fmt.Errorf("%w: %s: data_version %d, want %d", ErrCorrupt, path, q.DataVersion, stateVersion)
	}
	return &pb.HardState{Term: new(q.LeaderEpoch), Vote: new(q.VotedID), Commit: new(q.CommitIndex)}, nil
}

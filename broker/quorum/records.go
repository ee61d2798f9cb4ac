package quorum

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"runnel/io/disk"
	"runnel/segment"
)

// entryVersion is the first byte of an entry record's value (doc.go).
const entryVersion = 0

// appendEntry appends to dst the batch that stores e: one record whose value is the format
// version, the entry type and the entry's data. The log stamps the offset (index-1) and the
// leader epoch (the term).
func appendEntry(dst []byte, ts int64, e *pb.Entry) []byte {
	value := make([]byte, 0, 2+len(e.GetData()))
	value = append(value, entryVersion, byte(e.GetType()))
	value = append(value, e.GetData()...)
	return segment.BuildBatch(dst, ts, []segment.KeyValue{{Value: value}})
}

// DecodeEntry decodes the entry that batch (with header h), a batch of the log, stores. The
// data is copied. It is the one reader of entries: the Storage and `runnel dump-log` use it.
func DecodeEntry(h segment.BatchHeader, batch []byte) (*pb.Entry, error) {
	records, err := segment.Records(batch)
	if err != nil {
		return nil, err
	}
	if len(records) != 1 {
		return nil, fmt.Errorf("%d records in an entry batch", len(records))
	}
	v := records[0].Value
	if len(v) < 2 || v[0] != entryVersion {
		return nil, fmt.Errorf("entry record of %d bytes, version %v", len(v), v[:min(len(v), 1)])
	}
	typ := pb.EntryType(v[1])
	if _, ok := pb.EntryType_name[int32(typ)]; !ok {
		return nil, fmt.Errorf("entry type %d", typ)
	}
	var data []byte
	if len(v) > 2 {
		data = append([]byte(nil), v[2:]...)
	}
	return &pb.Entry{Term: new(uint64(h.PartitionLeaderEpoch)), Index: new(uint64(h.BaseOffset) + 1), Type: typ.Enum(), Data: data}, nil
}

// The keys of a snapshot file's two records.
var (
	snapshotMetadataKey = []byte("metadata")
	snapshotDataKey     = []byte("data")
)

// SnapshotSuffix ends the name of a snapshot file (Kafka's Snapshots.SUFFIX).
const SnapshotSuffix = ".checkpoint"

// snapshotName is Kafka's name for a snapshot: the end offset (the Raft index, since index =
// offset+1) in 20 digits and the epoch (the term) in 10.
func snapshotName(index, term uint64) string {
	return fmt.Sprintf("%020d-%010d%s", index, term, SnapshotSuffix)
}

// ParseSnapshotName reads the index and term from a snapshot file name.
func ParseSnapshotName(name string) (index, term uint64, ok bool) {
	base, found := strings.CutSuffix(name, SnapshotSuffix)
	if !found || len(base) != 31 || base[20] != '-' {
		return 0, 0, false
	}
	index, err1 := strconv.ParseUint(base[:20], 10, 64)
	term, err2 := strconv.ParseUint(base[21:], 10, 64)
	return index, term, err1 == nil && err2 == nil
}

// writeSnapshot writes snap to its file in dir, atomically and durably.
func writeSnapshot(dir string, snap *pb.Snapshot) error {
	md, err := proto.Marshal(snap.GetMetadata())
	if err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	term := snap.GetMetadata().GetTerm()
	b := segment.BuildBatch(nil, 0, []segment.KeyValue{{Key: snapshotMetadataKey, Value: md}, {Key: snapshotDataKey, Value: snap.GetData()}})
	segment.StampBaseOffset(b, 0, int32(min(term, 1<<31-1)))
	path := filepath.Join(dir, snapshotName(snap.GetMetadata().GetIndex(), term))
	if err := disk.WriteFileAtomic(path, b, 0o644); err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	return nil
}

// ReadSnapshot reads the snapshot file at path, whose name says its index and term (checked
// against the metadata inside). It is the one reader of snapshot files: the Storage and
// `runnel dump-log` use it.
func ReadSnapshot(path string) (*pb.Snapshot, error) {
	index, term, ok := ParseSnapshotName(filepath.Base(path))
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a snapshot file name (<20-digit index>-<10-digit term>%s)", ErrCorrupt, path, SnapshotSuffix)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("quorum: %w", err)
	}
	records, err := segment.Records(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	if len(records) != 2 || string(records[0].Key) != string(snapshotMetadataKey) || string(records[1].Key) != string(snapshotDataKey) {
		return nil, fmt.Errorf("%w: %s: not a snapshot's records", ErrCorrupt, path)
	}
	md := new(pb.SnapshotMetadata)
	if err := proto.Unmarshal(records[0].Value, md); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	if md.GetIndex() != index || md.GetTerm() != term {
		return nil, fmt.Errorf("%w: %s holds the snapshot at index %d term %d", ErrCorrupt, path, md.GetIndex(), md.GetTerm())
	}
	return pb.EnsureSnapshot(&pb.Snapshot{Metadata: md, Data: records[1].Value}), nil
}

// loadSnapshot reads the latest snapshot in dir (an empty one if there is none) and removes
// older snapshots and the temporary files of writes a crash interrupted.
func loadSnapshot(dir string, logger *slog.Logger) (*pb.Snapshot, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("quorum: %w", err)
	}
	var best string
	var bestIndex uint64
	for _, e := range entries {
		name := e.Name()
		if _, ok := disk.TempOf(name); ok {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("quorum: %w", err)
			}
			continue
		}
		if index, _, ok := ParseSnapshotName(name); ok && (best == "" || index > bestIndex) {
			best, bestIndex = name, index
		}
	}
	if best == "" {
		return pb.EnsureSnapshot(nil), nil
	}
	snap, err := ReadSnapshot(filepath.Join(dir, best))
	if err != nil {
		return nil, err
	}
	removeOldSnapshots(dir, bestIndex, logger)
	return snap, nil
}

// removeOldSnapshots removes the snapshot files before index. A file left behind costs
// only space, so failures are logged.
func removeOldSnapshots(dir string, index uint64, logger *slog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		logger.Warn("quorum: listing old snapshots", "dir", dir, "err", err)
		return
	}
	for _, e := range entries {
		if i, _, ok := ParseSnapshotName(e.Name()); ok && i < index {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				logger.Warn("quorum: removing an old snapshot", "file", e.Name(), "err", err)
			}
		}
	}
}

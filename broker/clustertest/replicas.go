package clustertest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"runnel/segment"
)

// Batch is a record batch as a replica's log holds it: what replicas must
// agree on (base offset, CRC, length) and, to explain a difference, its
// last offset and leader epoch.
type Batch struct {
	BaseOffset  int64
	LastOffset  int64
	CRC         uint32
	Length      int
	LeaderEpoch int32
}

// same reports whether two replicas hold the same batch.
func (b Batch) same(o Batch) bool {
	return b.BaseOffset == o.BaseOffset && b.CRC == o.CRC && b.Length == o.Length
}

func (b Batch) String() string {
	return fmt.Sprintf("batch %d-%d (crc %#08x, %d bytes, epoch %d)", b.BaseOffset, b.LastOffset, b.CRC, b.Length, b.LeaderEpoch)
}

// ReplicaLogs reads topic's partition on every node that holds it (a
// partition directory in its log dir), running or not: node id to its
// batches. It only reads: segment files are appended to, never rewritten
// in place, so a running node's files can be read, the last batch perhaps
// not yet whole (ReadSegments stops before it).
func (c *Cluster) ReplicaLogs(topic string, partition int32) (map[int32][]Batch, error) {
	dirName := segment.TopicPartition{Topic: topic, Partition: partition}.DirName()
	logs := map[int32][]Batch{}
	for _, n := range c.Nodes() {
		dir := filepath.Join(n.DataDir, dirName)
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		batches, err := ReadSegments(dir)
		if err != nil {
			return nil, fmt.Errorf("clustertest: node %d: %w", n.ID, err)
		}
		logs[n.ID] = batches
	}
	return logs, nil
}

// ReadSegments reads the batch headers of a partition directory's
// segments (*.log, in offset order, as their zero-padded names sort),
// each batch checked whole (segment.ValidateBatch: length, magic,
// CRC-32C). A segment's batches end at its first batch that does not
// pass: preallocated zeros, or a batch being written.
func ReadSegments(dir string) ([]Batch, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var batches []Batch
	for _, e := range entries { // ReadDir sorts by name
		if !strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since the listing
		}
		if err != nil {
			return nil, err
		}
		for pos := 0; pos < len(data); {
			h, err := segment.ValidateBatch(data[pos:])
			if err != nil {
				break
			}
			batches = append(batches, Batch{BaseOffset: h.BaseOffset, LastOffset: h.LastOffset(), CRC: h.CRC, Length: h.Size(), LeaderEpoch: h.PartitionLeaderEpoch})
			pos += h.Size()
		}
	}
	return batches, nil
}

// CompareReplicas checks that every replica's log holds the same batches
// up to the smallest of their ends (the end of a log: after its last
// batch's last offset): no offset holds two different records on two
// replicas. It returns the differences, nil when there are none.
func CompareReplicas(logs map[int32][]Batch) []string {
	ids := make([]int32, 0, len(logs))
	end := int64(-1)
	for id, batches := range logs {
		ids = append(ids, id)
		e := int64(0)
		if len(batches) > 0 {
			e = batches[len(batches)-1].LastOffset + 1
		}
		if end < 0 || e < end {
			end = e
		}
	}
	slices.Sort(ids)
	var diffs []string
	for _, id := range ids[min(1, len(ids)):] {
		if d := compareLogs(ids[0], logs[ids[0]], id, logs[id], end); d != "" {
			diffs = append(diffs, d)
		}
	}
	return diffs
}

// compareLogs is the first difference of two logs below end, "" when
// none.
func compareLogs(idA int32, a []Batch, idB int32, b []Batch, end int64) string {
	below := func(batches []Batch) []Batch {
		k := 0
		for k < len(batches) && batches[k].BaseOffset < end {
			k++
		}
		return batches[:k]
	}
	a, b = below(a), below(b)
	for k := range max(len(a), len(b)) {
		switch {
		case k >= len(a):
			return fmt.Sprintf("below offset %d, node %d's log ends before node %d's %v", end, idA, idB, b[k])
		case k >= len(b):
			return fmt.Sprintf("below offset %d, node %d's log ends before node %d's %v", end, idB, idA, a[k])
		case !a[k].same(b[k]):
			return fmt.Sprintf("node %d holds %v where node %d holds %v", idA, a[k], idB, b[k])
		}
	}
	return ""
}

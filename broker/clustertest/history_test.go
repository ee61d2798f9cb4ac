package clustertest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"runnel/broker/clustertest"
	"runnel/internal/wait"
	"runnel/segment"
)

// TestCheckHistoryCatchesPlantedFaults checks the checker: a clean history
// passes, and each planted fault is reported as what it is.
func TestCheckHistoryCatchesPlantedFaults(t *testing.T) {
	// Two producers, two partitions: producer k's record s at partition
	// s%2; offsets as a broker would give them.
	var acked []clustertest.Ack
	clean := map[int32][]clustertest.Record{}
	for s := range int64(6) {
		for k := range 2 {
			p := int32(s % 2)
			off := int64(len(clean[p]))
			clean[p] = append(clean[p], clustertest.Record{Offset: off, Value: clustertest.Value(k, s)})
			acked = append(acked, clustertest.Ack{Producer: k, Seq: s, Partition: p, Offset: off})
		}
	}
	if v := clustertest.CheckHistory(acked, clean); v != nil {
		t.Fatalf("a clean history: %q", v)
	}
	// An unacknowledged record in the log (a produce that failed after the
	// append) is allowed.
	extra := cloneLogs(clean)
	extra[1] = append(extra[1], clustertest.Record{Offset: int64(len(extra[1])), Value: clustertest.Value(0, 7)})
	if v := clustertest.CheckHistory(acked, extra); v != nil {
		t.Errorf("an unacknowledged record at the end: %q", v)
	}

	for _, tc := range []struct {
		name  string
		plant func(logs map[int32][]clustertest.Record)
		want  string
	}{
		{"missing", func(logs map[int32][]clustertest.Record) {
			logs[0] = slices.Delete(logs[0], 2, 3)
		}, "lost: p0-s2, acknowledged at offset 2 of partition 0, which holds no record"},
		{"truncated tail", func(logs map[int32][]clustertest.Record) {
			logs[1] = logs[1][:len(logs[1])-1]
		}, "lost: p1-s5"},
		{"other record at the offset", func(logs map[int32][]clustertest.Record) {
			logs[0][3].Value = clustertest.Value(0, 9)
		}, "lost: p1-s2, acknowledged at offset 3 of partition 0, which holds p0-s9"},
		{"duplicated", func(logs map[int32][]clustertest.Record) {
			logs[0] = append(logs[0], clustertest.Record{Offset: int64(len(logs[0])), Value: logs[0][1].Value})
		}, "duplicate: p1-s0 at offsets 1 and 6 of partition 0"},
		{"reordered", func(logs map[int32][]clustertest.Record) {
			logs[1][0].Value, logs[1][2].Value = logs[1][2].Value, logs[1][0].Value
		}, "reordered: producer 0's record 1 at offset 2 of partition 1, after its record 3 at offset 0"},
		{"unknown value", func(logs map[int32][]clustertest.Record) {
			logs[1] = append(logs[1], clustertest.Record{Offset: int64(len(logs[1])), Value: "stray"})
		}, `unknown: "stray"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := cloneLogs(clean)
			tc.plant(logs)
			v := clustertest.CheckHistory(acked, logs)
			if !slices.ContainsFunc(v, func(s string) bool { return strings.HasPrefix(s, tc.want) }) {
				t.Errorf("violations %q, want one starting %q", v, tc.want)
			}
		})
	}
}

func cloneLogs(logs map[int32][]clustertest.Record) map[int32][]clustertest.Record {
	out := map[int32][]clustertest.Record{}
	for p, records := range logs {
		out[p] = slices.Clone(records)
	}
	return out
}

// TestCompareReplicasCatchesADifferentBatch writes three replicas'
// partition directories as segment files (the second one with a
// preallocated zero tail, the third one behind), reads them back with
// ReadSegments, and compares them: equal up to the shortest end passes; a
// replica holding another batch at an offset, or batches cut at other
// offsets, does not.
func TestCompareReplicasCatchesADifferentBatch(t *testing.T) {
	batch := func(base int64, epoch int32, values ...string) []byte {
		var kvs []segment.KeyValue
		for _, v := range values {
			kvs = append(kvs, segment.KeyValue{Value: []byte(v)})
		}
		b := segment.BuildBatch(nil, 1700000000000, kvs)
		segment.StampBaseOffset(b, base, epoch)
		return b
	}
	a0, a1, a2 := batch(0, 0, "a", "b"), batch(2, 0, "c"), batch(3, 1, "d", "e", "f")
	write := func(name string, segments map[int64][]byte, zeroTail int) string {
		dir := filepath.Join(t.TempDir(), name, "orders-0")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for base, data := range segments {
			file := filepath.Join(dir, fmt.Sprintf("%020d.log", base))
			if err := os.WriteFile(file, append(data, make([]byte, zeroTail)...), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	read := func(dir string) []clustertest.Batch {
		batches, err := clustertest.ReadSegments(dir)
		if err != nil {
			t.Fatal(err)
		}
		return batches
	}
	leader := read(write("leader", map[int64][]byte{0: concat(a0, a1), 3: a2}, 0))
	follower := read(write("follower", map[int64][]byte{0: concat(a0, a1, a2)}, 4096))
	behind := read(write("behind", map[int64][]byte{0: a0}, 0))
	if len(leader) != 3 || len(follower) != 3 || len(behind) != 1 {
		t.Fatalf("read %d, %d and %d batches, want 3, 3 and 1", len(leader), len(follower), len(behind))
	}
	if leader[2].BaseOffset != 3 || leader[2].LastOffset != 5 || leader[2].LeaderEpoch != 1 {
		t.Errorf("leader's third batch: %v", leader[2])
	}
	if d := clustertest.CompareReplicas(map[int32][]clustertest.Batch{1: leader, 2: follower, 3: behind}); d != nil {
		t.Errorf("equal replicas, one behind: %q", d)
	}

	// A divergent tail: another batch at offset 2 (as a deposed leader
	// that appended on its own would have).
	diverged := read(write("diverged", map[int64][]byte{0: concat(a0, batch(2, 1, "x"))}, 0))
	d := clustertest.CompareReplicas(map[int32][]clustertest.Batch{1: leader, 2: diverged})
	if len(d) != 1 || !strings.Contains(d[0], "node 1 holds batch 2-2") || !strings.Contains(d[0], "node 2 holds batch 2-2") {
		t.Errorf("a different batch at offset 2: %q", d)
	}
	// The same records batched otherwise are different batches.
	rebatched := read(write("rebatched", map[int64][]byte{0: concat(batch(0, 0, "a"), batch(1, 0, "b"), a1)}, 0))
	if d := clustertest.CompareReplicas(map[int32][]clustertest.Batch{1: leader, 2: rebatched}); len(d) != 1 {
		t.Errorf("batches cut at other offsets: %q", d)
	}
}

func concat(parts ...[]byte) []byte { return slices.Concat(parts...) }

// TestWorkloadAndVerifyHistory runs the workload against a single-node
// cluster and verifies it: every acknowledged record read back at its
// offset, nothing lost, duplicated or reordered, and the one replica read
// from disk while the node runs.
func TestWorkloadAndVerifyHistory(t *testing.T) {
	c, err := clustertest.Start(clustertest.Options{Test: t, Nodes: 1, Ready: clustertest.MetadataListsAllBrokers})
	if err != nil {
		t.Fatal(err)
	}
	const topic, partitions = "history", 2
	createTopic(t, c, 0, topic, partitions)
	w, err := c.StartWorkload(clustertest.WorkloadOptions{Topic: topic, Partitions: partitions, Producers: 3})
	if err != nil {
		t.Fatal(err)
	}
	waitAcked(t, w, 300)
	acked, failures := w.Stop()
	if len(failures) > 0 {
		t.Errorf("%d records failed, the first: %v", len(failures), failures[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	violations, err := c.VerifyHistory(ctx, topic, partitions, acked)
	if err != nil {
		t.Fatal(err)
	}
	if violations != nil {
		t.Errorf("violations: %q", violations)
	}
	for p := range int32(partitions) {
		logs, err := c.ReplicaLogs(topic, p)
		if err != nil {
			t.Fatal(err)
		}
		batches := logs[c.Node(0).ID]
		if len(logs) != 1 || len(batches) == 0 {
			t.Fatalf("replicas of %s-%d: %v", topic, p, logs)
		}
		if n, want := batches[len(batches)-1].LastOffset+1, countIn(acked, p); n < want {
			t.Errorf("%s-%d on disk ends at %d, below the %d records acknowledged", topic, p, n, want)
		}
	}
}

// waitAcked waits until the workload has n more records acknowledged.
func waitAcked(t *testing.T, w *clustertest.Workload, n int) {
	t.Helper()
	from := w.Acked()
	wait.Until(t, 30*time.Second, fmt.Sprintf("%d records acknowledged", n), func() bool { return w.Acked() >= from+n })
}

func countIn(acked []clustertest.Ack, p int32) int64 {
	var n int64
	for _, a := range acked {
		if a.Partition == p {
			n++
		}
	}
	return n
}

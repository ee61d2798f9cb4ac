package segment

import (
	"errors"
	"flag"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares the file at path with testdata/name, or with -update
// rewrites testdata/name from it.
func golden(t *testing.T, path, name string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(want, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantBytes, err := os.ReadFile(want)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(wantBytes) {
		t.Fatalf("%s differs from %s:\n got %q\nwant %q", path, want, got, wantBytes)
	}
}

func TestOffsetCheckpointGolden(t *testing.T) {
	m := map[TopicPartition]int64{
		{"orders", 1}:             1180,
		{"orders", 0}:             1234,
		{"orders", 10}:            0,
		{"__consumer_offsets", 3}: 1 << 40,
		{"a.b_c-d", 0}:            42,
	}
	path := filepath.Join(t.TempDir(), "recovery-point-offset-checkpoint")
	if err := WriteOffsetCheckpoint(path, m); err != nil {
		t.Fatal(err)
	}
	golden(t, path, "recovery-point-offset-checkpoint")
	got, err := ReadOffsetCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, m) {
		t.Fatalf("read back %v, want %v", got, m)
	}
}

func TestOffsetCheckpointEmptyAndMissing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log-start-offset-checkpoint")
	if m, err := ReadOffsetCheckpoint(path); err != nil || len(m) != 0 || m == nil {
		t.Fatalf("missing file: %v, %v; want an empty map", m, err)
	}
	if err := WriteOffsetCheckpoint(path, nil); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "0\n0\n" {
		t.Fatalf("empty checkpoint is %q", data)
	}
	if m, err := ReadOffsetCheckpoint(path); err != nil || len(m) != 0 {
		t.Fatalf("empty file: %v, %v", m, err)
	}
	if err := WriteOffsetCheckpoint(path, map[TopicPartition]int64{{"bad topic", 0}: 1}); err == nil {
		t.Fatal("a topic with a space was written")
	}
}

func TestLeaderEpochCheckpointGolden(t *testing.T) {
	entries := []EpochEntry{{0, 0}, {3, 1200}, {7, 1 << 33}}
	path := filepath.Join(t.TempDir(), "leader-epoch-checkpoint")
	if err := WriteLeaderEpochCheckpoint(path, entries); err != nil {
		t.Fatal(err)
	}
	golden(t, path, "leader-epoch-checkpoint")
	got, err := ReadLeaderEpochCheckpoint(path)
	if err != nil || !slices.Equal(got, entries) {
		t.Fatalf("read back %v, %v; want %v", got, err, entries)
	}
	if got, err := ReadLeaderEpochCheckpoint(filepath.Join(t.TempDir(), "none")); err != nil || got != nil {
		t.Fatalf("missing file: %v, %v", got, err)
	}
}

func TestPartitionMetadataGolden(t *testing.T) {
	id := [16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	path := filepath.Join(t.TempDir(), "partition.metadata")
	if err := WritePartitionMetadata(path, id); err != nil {
		t.Fatal(err)
	}
	golden(t, path, "partition.metadata")
	// base64 of 00..0f is AAECAwQFBgcICQoLDA0ODw== ; Kafka drops the padding.
	if data, _ := os.ReadFile(path); !strings.Contains(string(data), "topic_id: AAECAwQFBgcICQoLDA0ODw\n") {
		t.Fatalf("topic id not in Kafka's Uuid form: %q", data)
	}
	got, err := ReadPartitionMetadata(path)
	if err != nil || got != id {
		t.Fatalf("read back %x, %v", got, err)
	}
	if _, err := ReadPartitionMetadata(filepath.Join(t.TempDir(), "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestPropertiesGolden(t *testing.T) {
	p := map[string]string{
		"version":      "1",
		"node.id":      "1",
		"cluster.id":   "MkU3OEVBNTcwNTJENDM2Qg",
		"directory.id": "J8aAPcfLQt2bqs1JT_rMgQ",
		"odd key=:":    " lead\ttab\\ #! é 😀",
	}
	path := filepath.Join(t.TempDir(), "meta.properties")
	if err := WriteProperties(path, p); err != nil {
		t.Fatal(err)
	}
	golden(t, path, "meta.properties")
	got, err := ReadProperties(path)
	if err != nil || !maps.Equal(got, p) {
		t.Fatalf("read back %q, %v; want %q", got, err, p)
	}
}

// TestReadKafkaProperties reads meta.properties as Kafka's
// Properties.store writes it, plus the syntax Java accepts.
func TestReadKafkaProperties(t *testing.T) {
	got, err := ReadProperties(filepath.Join("testdata", "kafka-meta.properties"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"node.id": "1", "version": "1", "cluster.id": "MkU3OEVBNTcwNTJENDM2Qg",
		"directory.id": "J8aAPcfLQt2bqs1JT_rMgQ", "colon": "value", "spaced": "value with spaces",
		"continued": "one two three", "empty": "", "key with space": "x", "unicode": "é",
	}
	if !maps.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestParsePartitionDir(t *testing.T) {
	tests := []struct {
		name string
		tp   TopicPartition
		ok   bool
	}{
		{"orders-0", TopicPartition{"orders", 0}, true},
		{"my-topic-12", TopicPartition{"my-topic", 12}, true},
		{"__consumer_offsets-49", TopicPartition{"__consumer_offsets", 49}, true},
		{"a.b_c-2147483647", TopicPartition{"a.b_c", 2147483647}, true},
		{"t--1", TopicPartition{"t-", 1}, true},
		{"orders", TopicPartition{}, false},
		{"orders-", TopicPartition{}, false},
		{"-3", TopicPartition{}, false},
		{"orders-007", TopicPartition{}, false},
		{"orders-+7", TopicPartition{}, false},
		{"orders-2147483648", TopicPartition{}, false},
		{"orders-0.6c3a1e0b5c5d4f0a8b1c2d3e4f5a6b7c-delete", TopicPartition{}, false},
		{"orders-0.6c3a1e0b5c5d4f0a8b1c2d3e4f5a6b7c-future", TopicPartition{}, false},
		{"lost+found", TopicPartition{}, false},
		{"bad topic-1", TopicPartition{}, false},
		{"..-1", TopicPartition{}, false},
		{strings.Repeat("x", 250) + "-0", TopicPartition{}, false},
	}
	for _, tt := range tests {
		tp, ok := ParsePartitionDir(tt.name)
		if tp != tt.tp || ok != tt.ok {
			t.Errorf("ParsePartitionDir(%q) = %v, %v; want %v, %v", tt.name, tp, ok, tt.tp, tt.ok)
		}
		if ok && tp.DirName() != tt.name {
			t.Errorf("%v.DirName() = %q, want %q", tp, tp.DirName(), tt.name)
		}
	}
}

// TestReadMalformed: every reader names the file and the offending line.
func TestReadMalformed(t *testing.T) {
	offsets := func(path string) error { _, err := ReadOffsetCheckpoint(path); return err }
	epochs := func(path string) error { _, err := ReadLeaderEpochCheckpoint(path); return err }
	metadata := func(path string) error { _, err := ReadPartitionMetadata(path); return err }
	properties := func(path string) error { _, err := ReadProperties(path); return err }
	tests := []struct {
		name     string
		read     func(path string) error
		content  string
		wantLine int
	}{
		{"empty", offsets, "", 1},
		{"version 1", offsets, "1\n0\n", 1},
		{"version padded", offsets, "0 \n0\n", 1},
		{"no count", offsets, "0\n", 2},
		{"bad count", offsets, "0\nx\n", 2},
		{"negative count", offsets, "0\n-1\n", 2},
		{"too few entries", offsets, "0\n2\nt 0 1\n", 4},
		{"too many entries", offsets, "0\n1\nt 0 1\nt 1 1\n", 4},
		{"blank trailing line", offsets, "0\n1\nt 0 1\n\n", 4},
		{"two fields", offsets, "0\n1\nt 0\n", 3},
		{"four fields", offsets, "0\n1\nt 0 1 2\n", 3},
		{"bad partition", offsets, "0\n1\nt x 1\n", 3},
		{"negative partition", offsets, "0\n1\nt -1 1\n", 3},
		{"bad offset", offsets, "0\n2\nt 0 1\nt 1 1x\n", 4},
		{"illegal topic", offsets, "0\n1\nt/x 0 1\n", 3},
		{"duplicate", offsets, "0\n2\nt 0 1\nt 0 2\n", 4},
		{"epoch fields", epochs, "0\n1\n1 2 3\n", 3},
		{"epoch overflow", epochs, "0\n1\n2147483648 0\n", 3},
		{"epoch offset", epochs, "0\n1\n1 x\n", 3},
		{"metadata empty", metadata, "", 1},
		{"metadata version", metadata, "version: 1\ntopic_id: AAECAwQFBgcICQoLDA0ODw\n", 1},
		{"metadata key", metadata, "version: 0\ntopicid: AAECAwQFBgcICQoLDA0ODw\n", 2},
		{"metadata padded id", metadata, "version: 0\ntopic_id: AAECAwQFBgcICQoLDA0ODw==\n", 2},
		{"metadata short id", metadata, "version: 0\ntopic_id: AAECAwQFBgcICQoLDA0O\n", 2},
		{"metadata std base64", metadata, "version: 0\ntopic_id: AAECAwQFBgcICQoLDA0O+/\n", 2},
		{"metadata zero id", metadata, "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA\n", 2},
		{"metadata extra", metadata, "version: 0\ntopic_id: AAECAwQFBgcICQoLDA0ODw\nmore\n", 3},
		{"properties bad unicode", properties, "a=1\n# c\nb=\\u12G4\n", 3},
		{"properties short unicode", properties, "b=\\u12\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			err := tt.read(path)
			if !errors.Is(err, ErrMalformedCheckpoint) {
				t.Fatalf("err = %v, want ErrMalformedCheckpoint", err)
			}
			if want := path + " line " + strconv.Itoa(tt.wantLine) + ":"; !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want it to name %q", err, want)
			}
		})
	}
}

// TestReadCRLF: files edited on Windows still read (Java's readLine accepts
// "\r\n").
func TestReadCRLF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log-start-offset-checkpoint")
	if err := os.WriteFile(path, []byte("0\r\n1\r\nt 0 5\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := ReadOffsetCheckpoint(path)
	if err != nil || m[TopicPartition{"t", 0}] != 5 || len(m) != 1 {
		t.Fatalf("got %v, %v", m, err)
	}
}

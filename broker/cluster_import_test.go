package broker_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"

	"runnel/broker/brokertest"
)

// writeOldTopicsFile writes topics.json as single-node Runnel wrote it
// (topics.go before the metadata log): version 1, topics sorted by name,
// ids in base64url, partition counts and config overrides.
func writeOldTopicsFile(t *testing.T, dir string, topics kadm.TopicDetails, configs map[string]map[string]string) {
	t.Helper()
	type topicRecord struct {
		Name       string            `json:"name"`
		ID         string            `json:"id"`
		Partitions int32             `json:"partitions"`
		Configs    map[string]string `json:"configs,omitempty"`
	}
	doc := struct {
		Version int           `json:"version"`
		Topics  []topicRecord `json:"topics"`
	}{Version: 1}
	for name, td := range topics {
		doc.Topics = append(doc.Topics, topicRecord{Name: name, ID: base64.RawURLEncoding.EncodeToString(td.ID[:]),
			Partitions: int32(len(td.Partitions)), Configs: configs[name]})
	}
	sort.Slice(doc.Topics, func(i, j int) bool { return doc.Topics[i].Name < doc.Topics[j].Name })
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "topics.json"), append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeFromTopicsFile: a data dir as single-node Runnel left it
// (topics.json and partition directories, no metadata log) starts, imports
// its topics with their ids, counts and configs, serves every record, keeps
// topics.json renamed, and restarts twice on the metadata log alone.
func TestUpgradeFromTopicsFile(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.Start(t, "log.dirs="+dir)
	adm := b.Admin(t)
	if _, err := adm.CreateTopic(ctx(t), 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("86400000")}, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx(t), 1, 1, nil, "events"); err != nil {
		t.Fatal(err)
	}
	for p := range int32(3) {
		produceN(t, b, "orders", p, 4+int(p))
	}
	produceN(t, b, "events", 0, 9)
	topics, err := adm.ListTopicsWithInternal(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The old layout: no metadata log, topics.json beside the partitions.
	if err := os.RemoveAll(filepath.Join(dir, "__cluster_metadata-0")); err != nil {
		t.Fatal(err)
	}
	writeOldTopicsFile(t, dir, topics, map[string]map[string]string{
		"orders":             {"retention.ms": "86400000"},
		"__consumer_offsets": {"cleanup.policy": "compact", "segment.bytes": "16777216", "segment.index.bytes": "1048576"},
	})

	for round := range 3 {
		b = b.Restart(t)
		if _, err := os.Stat(filepath.Join(dir, "topics.json")); !os.IsNotExist(err) {
			t.Errorf("round %d: topics.json still there: %v", round, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "topics.json.imported")); err != nil {
			t.Errorf("round %d: topics.json.imported: %v", round, err)
		}
		now, err := b.Admin(t).ListTopicsWithInternal(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for name, td := range topics {
			if got := now[name]; got.ID != td.ID || len(got.Partitions) != len(td.Partitions) {
				t.Errorf("round %d: %s is %x with %d partitions, was %x with %d", round, name, got.ID, len(got.Partitions), td.ID, len(td.Partitions))
			}
		}
		if v, _ := topicConfig(t, b.Admin(t), "orders", "retention.ms"); v != "86400000" {
			t.Errorf("round %d: orders retention.ms %q", round, v)
		}
		for p := range int32(3) {
			if end := endOffset(t, b, "orders", p); end != int64(4+p) {
				t.Errorf("round %d: orders-%d ends at %d, want %d", round, p, end, 4+p)
			}
		}
		if got := consumeAll(t, b, "events", 9); len(got) != 9 {
			t.Errorf("round %d: %d records of events read back, want 9", round, len(got))
		}
	}
}

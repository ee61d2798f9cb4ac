package broker_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker"
	"runnel/broker/brokertest"
	"runnel/segment"
)

func produceN(t *testing.T, b *brokertest.Broker, topic string, partition int32, n int) {
	t.Helper()
	cl := b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for range n {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: partition, Value: []byte("v")})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func endOffset(t *testing.T, b *brokertest.Broker, topic string, partition int32) int64 {
	t.Helper()
	offs, err := b.Admin(t).ListEndOffsets(ctx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := offs.Lookup(topic, partition)
	if !ok || o.Err != nil {
		t.Fatalf("end offset of %s/%d: %+v", topic, partition, o)
	}
	return o.Offset
}

// deleteKeepingDirs deletes topic and copies its partition directories
// back once the broker is closed (call the returned func then): what a
// crash between the deletion's commit to the metadata log and the removal
// of the directories leaves.
func deleteKeepingDirs(t *testing.T, b *brokertest.Broker, dir, topic string) (restore func()) {
	t.Helper()
	saved := t.TempDir()
	parts, _ := filepath.Glob(filepath.Join(dir, topic+"-*"))
	for _, p := range parts {
		if err := os.CopyFS(filepath.Join(saved, filepath.Base(p)), os.DirFS(p)); err != nil {
			t.Fatal(err)
		}
	}
	if resp, err := b.Admin(t).DeleteTopics(ctx(t), topic); err != nil || resp[topic].Err != nil {
		t.Fatalf("delete %s: %v %v", topic, err, resp[topic].Err)
	}
	return func() {
		for _, p := range parts {
			if err := os.CopyFS(p, os.DirFS(filepath.Join(saved, filepath.Base(p)))); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestStartupReconcilesLogDirs(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.Start(t, "log.dirs="+dir)
	adm := b.Admin(t)
	if _, err := adm.CreateTopics(ctx(t), 2, 1, nil, "kept", "gone"); err != nil {
		t.Fatal(err)
	}
	produceN(t, b, "kept", 0, 5)
	keptID := topicIDs(t, b)["kept"]
	// A crash between the metadata log and the dirs: "gone" was deleted
	// from the log but its dirs remain, and kept-1 is in the log but was
	// never created.
	restore := deleteKeepingDirs(t, b, dir, "gone")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	restore()
	if err := os.RemoveAll(filepath.Join(dir, "kept-1")); err != nil {
		t.Fatal(err)
	}
	b = b.Restart(t)
	if got := topicNames(t, b); len(got) != 1 || got[0] != "kept" {
		t.Fatalf("topics %v", got)
	}
	for _, d := range []string{"gone-0", "gone-1"} {
		if _, err := os.Stat(filepath.Join(dir, d)); !os.IsNotExist(err) {
			t.Errorf("stray %s still in place: %v", d, err)
		}
		// Set aside with its files, as Kafka does, not deleted.
		aside, _ := filepath.Glob(filepath.Join(dir, d+".*-stray"))
		if len(aside) != 1 {
			t.Errorf("stray %s set aside as %v, want one %s.<uuid>-stray", d, aside, d)
			continue
		}
		if logs, _ := filepath.Glob(filepath.Join(aside[0], "*.log")); len(logs) == 0 {
			t.Errorf("stray %s kept no segment", aside[0])
		}
	}
	// A topic of the same name is a new topic: it starts empty beside the stray directories,
	// which a later start leaves alone.
	if _, err := b.Admin(t).CreateTopics(ctx(t), 2, 1, nil, "gone"); err != nil {
		t.Fatal(err)
	}
	b = b.Restart(t)
	if end := endOffset(t, b, "gone", 0); end != 0 {
		t.Errorf("recreated gone-0 end offset %d, want 0", end)
	}
	if aside, _ := filepath.Glob(filepath.Join(dir, "gone-*.*-stray")); len(aside) != 2 {
		t.Errorf("stray directories after a second start: %v", aside)
	}
	if id, err := segment.ReadPartitionMetadata(filepath.Join(dir, "kept-1", "partition.metadata")); err != nil || id != keptID {
		t.Errorf("kept-1 recreated with %x (%v), want %x", id, err, keptID)
	}
	if end := endOffset(t, b, "kept", 0); end != 5 {
		t.Errorf("kept-0 end offset %d", end)
	}
}

func topicIDs(t *testing.T, b *brokertest.Broker) map[string][16]byte {
	t.Helper()
	topics, err := b.Admin(t).ListTopics(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string][16]byte{}
	for name, td := range topics {
		ids[name] = td.ID
	}
	return ids
}

func TestStartupAdoptsPartitionsWithoutTopicsFile(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	b := brokertest.Start(t, "log.dirs="+strings.Join(dirs, ","))
	if _, err := b.Admin(t).CreateTopic(ctx(t), 4, 1, nil, "orphan"); err != nil {
		t.Fatal(err)
	}
	produceN(t, b, "orphan", 3, 7)
	id := topicIDs(t, b)["orphan"]
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// Partitions without a metadata log or topics.json: a data dir from
	// elsewhere.
	for _, d := range dirs {
		for _, name := range []string{"__cluster_metadata-0", "__consumer_offsets-*"} {
			found, _ := filepath.Glob(filepath.Join(d, name))
			for _, f := range found {
				if err := os.RemoveAll(f); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	b = b.Restart(t)
	if got := topicIDs(t, b); len(got) != 1 || got["orphan"] != id {
		t.Fatalf("adopted topics %v, want orphan with id %x", got, id)
	}
	if end := endOffset(t, b, "orphan", 3); end != 7 {
		t.Errorf("end offset %d", end)
	}
	if _, err := os.Stat(filepath.Join(dirs[0], "__cluster_metadata-0")); err != nil {
		t.Errorf("metadata log not made again: %v", err)
	}
}

func TestStartupSpreadsPartitionsAcrossDirs(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	b := brokertest.Start(t, "log.dirs="+strings.Join(dirs, ","))
	if _, err := b.Admin(t).CreateTopic(ctx(t), 6, 1, nil, "spread"); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		matches, _ := filepath.Glob(filepath.Join(d, "spread-*"))
		if len(matches) != 2 {
			t.Errorf("%s holds %d partitions, want 2", d, len(matches))
		}
		if _, err := segment.ReadProperties(filepath.Join(d, "meta.properties")); err != nil {
			t.Errorf("meta.properties: %v", err)
		}
	}
}

func TestStartupRefusesForeignLogDir(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.Start(t, "log.dirs="+dir)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := broker.DefaultConfig()
	cfg.LogDirs = []string{dir}
	cfg.AdminListener = ""
	cfg.NodeID = 2
	if _, err := broker.New(cfg, nil); err == nil || !strings.Contains(err.Error(), "node.id") {
		t.Errorf("another node's log dir: %v", err)
	}
	cfg.NodeID = 1
	cfg.ClusterID = "someOtherCluster0000000"
	if _, err := broker.New(cfg, nil); err == nil || !strings.Contains(err.Error(), "cluster") {
		t.Errorf("another cluster's log dir: %v", err)
	}
}

func TestStartupAfterLogDirsReordered(t *testing.T) {
	a, c := t.TempDir(), t.TempDir()
	b := brokertest.Start(t, "log.dirs="+a+","+c)
	if _, err := b.Admin(t).CreateTopic(ctx(t), 2, 1, map[string]*string{"retention.ms": kadm.StringPtr("12345")}, "moved"); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = brokertest.Start(t, "log.dirs="+c+","+a)
	if v, _ := topicConfig(t, b.Admin(t), "moved", "retention.ms"); v != "12345" {
		t.Errorf("retention.ms %s after reordering log.dirs", v)
	}
	if _, err := os.Stat(filepath.Join(a, "__cluster_metadata-0")); err != nil {
		t.Errorf("metadata log not kept where it was: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c, "__cluster_metadata-0")); !os.IsNotExist(err) {
		t.Errorf("a second metadata log in the new first dir: %v", err)
	}
}

func TestNewFailsCleanlyWhenAdminListenerIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	cfg := broker.DefaultConfig()
	cfg.LogDirs = []string{dir}
	cfg.AdminListener = taken.Addr().String()
	if _, err := broker.New(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "admin listener") {
		t.Fatalf("New with a taken admin port: %v", err)
	}
	// The logs were closed cleanly: the dir opens again.
	if _, err := os.Stat(filepath.Join(dir, ".kafka_cleanshutdown")); err != nil {
		t.Errorf("no clean-shutdown marker after the failed start: %v", err)
	}
	cfg.AdminListener = ""
	b, err := broker.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCreateTopicRollsBack: when one partition cannot be created, the topic
// is not created at all: no partition dirs, not in the metadata image, and the
// name can be used once the obstacle is gone.
func TestCreateTopicRollsBack(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.Start(t, "log.dirs="+dir)
	// A file where partition 3's directory would go.
	if err := os.WriteFile(filepath.Join(dir, "blocked-3"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	adm := b.Admin(t)
	if _, err := adm.CreateTopic(ctx(t), 6, 1, nil, "blocked"); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("create over an obstacle: %v", err)
	}
	if got := topicNames(t, b); len(got) != 0 {
		t.Errorf("topics after the failed create: %v", got)
	}
	if dirs, _ := filepath.Glob(filepath.Join(dir, "blocked-*")); len(dirs) != 1 {
		t.Errorf("left behind: %v", dirs)
	}
	if _, ok := b.Image().Topic("blocked"); ok {
		t.Errorf("blocked in the metadata image after the failed create")
	}
	if err := os.Remove(filepath.Join(dir, "blocked-3")); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx(t), 6, 1, nil, "blocked"); err != nil {
		t.Fatalf("create after the obstacle is gone: %v", err)
	}
	b = b.Restart(t)
	topics, err := b.Admin(t).ListTopics(ctx(t), "blocked")
	if err != nil || len(topics["blocked"].Partitions) != 6 {
		t.Errorf("after restart: %v %+v", err, topics)
	}
}

// TestStartFailureAfterRegistrationStopsAtOnce: a start that fails after the
// broker registered (its admin port is taken) runs the controlled shutdown
// while the broker still applies images, so it ends as soon as the
// controller hands the leaderships over, not after the controlled-shutdown
// timeout (here ten minutes).
func TestStartFailureAfterRegistrationStopsAtOnce(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := broker.DefaultConfig()
	cfg.LogDirs = []string{t.TempDir()}
	cfg.AdminListener = taken.Addr().String()
	cfg.Control.ControlledShutdownTimeout = 10 * time.Minute
	failed := make(chan error, 1)
	go func() {
		_, err := broker.New(cfg, slog.New(slog.DiscardHandler))
		failed <- err
	}()
	select {
	case err := <-failed:
		if err == nil || !strings.Contains(err.Error(), "admin listener") {
			t.Fatalf("New with the admin port taken: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("New with the admin port taken did not return within a minute: waiting out the controlled shutdown")
	}
}

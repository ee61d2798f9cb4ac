package broker_test

// The broker restarts on its data directory after what used to stop it.

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	"runnel/broker"
	"runnel/broker/brokertest"
	"runnel/segment"
)

// TestRestartAfterDeletingLongestTopicName: a topic with a 249-character name (the longest
// Kafka allows) is deleted and the broker restarts on the directory and serves. The
// deletion's rename used to fail with "file name too long", which left the partition
// directory behind and stopped the next start; such a leftover (a partition directory
// of a topic the metadata log no longer holds) is set aside at startup as
// "<dir>.<uuid>-stray", its name cut to fit.
func TestRestartAfterDeletingLongestTopicName(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.Start(t, "log.dirs="+dir)
	topic, leftover := strings.Repeat("a", 249), strings.Repeat("c", 249)
	adm := b.Admin(t)
	for _, name := range []string{topic, leftover} {
		if _, err := adm.CreateTopic(ctx(t), 2, 1, nil, name); err != nil {
			t.Fatal(err)
		}
		produceN(t, b, name, 1, 10)
	}
	restore := deleteKeepingDirs(t, b, dir, leftover) // deleted, its directories not yet renamed
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	restore()
	b = brokertest.Start(t, "log.dirs="+dir)
	left, _ := filepath.Glob(filepath.Join(dir, "ccc*"))
	for _, l := range left {
		if !strings.HasSuffix(l, "-stray") {
			t.Errorf("left after the restart, not set aside: %s", l)
		}
	}
	if len(left) != 2 {
		t.Errorf("after the restart: %d entries %v, want the 2 partitions set aside", len(left), left)
	}
	adm = b.Admin(t)
	resp, err := adm.DeleteTopics(ctx(t), topic)
	if err != nil || resp[topic].Err != nil {
		t.Fatalf("delete: %v %v", err, resp[topic].Err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "aaa*")); len(left) != 0 {
		t.Errorf("left after the delete: %d entries", len(left))
	}
	b = b.Restart(t)
	if _, err := b.Admin(t).CreateTopic(ctx(t), 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	produceN(t, b, topic, 1, 3)
	if end := endOffset(t, b, topic, 1); end != 3 {
		t.Errorf("end offset of the re-created topic %d, want 3", end)
	}
}

// TestCreateRefusesPartitionDirNamesTooLong: with runnel.max.partitions.per.topic raised, a
// 249-character topic of more than 100,000 partitions would need directory names longer
// than 255 bytes; CreateTopics and CreatePartitions refuse it with INVALID_PARTITIONS.
func TestCreateRefusesPartitionDirNamesTooLong(t *testing.T) {
	b := brokertest.Start(t, "runnel.max.partitions.per.topic=200000")
	cl := b.Client(t)
	topic := strings.Repeat("b", 249)
	create := func(partitions int32, validateOnly bool) int16 {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
		req.Topics, req.ValidateOnly = append(req.Topics, rt), validateOnly
		resp, err := req.RequestWith(ctx(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].ErrorCode
	}
	if code := create(100001, true); code != kerr.InvalidPartitions.Code {
		t.Errorf("100001 partitions of a 249-character topic: %v, want INVALID_PARTITIONS", kerr.ErrorForCode(code))
	}
	if code := create(100000, true); code != 0 {
		t.Errorf("100000 partitions of a 249-character topic: %v", kerr.ErrorForCode(code))
	}
	if code := create(1, false); code != 0 {
		t.Fatalf("create: %v", kerr.ErrorForCode(code))
	}
	req := kmsg.NewPtrCreatePartitionsRequest()
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = topic, 100001
	req.Topics, req.ValidateOnly = append(req.Topics, rt), true
	resp, err := req.RequestWith(ctx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != kerr.InvalidPartitions.Code {
		t.Errorf("growing to 100001 partitions: %v, want INVALID_PARTITIONS", kerr.ErrorForCode(code))
	}
}

// TestRestartWithBrokenCheckpoints: garbage in the log dir's recovery-point and
// log-start-offset checkpoints costs a full recovery, not a failed start.
func TestRestartWithBrokenCheckpoints(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.Start(t, "log.dirs="+dir)
	if _, err := b.Admin(t).CreateTopic(ctx(t), 1, 1, nil, "kept"); err != nil {
		t.Fatal(err)
	}
	produceN(t, b, "kept", 0, 25)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"recovery-point-offset-checkpoint", "log-start-offset-checkpoint"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("garbage\x00\x01"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b = brokertest.Start(t, "log.dirs="+dir)
	if end := endOffset(t, b, "kept", 0); end != 25 {
		t.Fatalf("end offset %d after the restart, want 25", end)
	}
	produceN(t, b, "kept", 0, 5)
	if end := endOffset(t, b, "kept", 0); end != 30 {
		t.Fatalf("end offset %d, want 30", end)
	}
}

// TestRestartWithBrokenPartitionMetadata: a partition.metadata with garbage in it is
// written again from topics.json's topic id, not a failed start.
func TestRestartWithBrokenPartitionMetadata(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.Start(t, "log.dirs="+dir)
	created, err := b.Admin(t).CreateTopic(ctx(t), 2, 1, nil, "md")
	if err != nil {
		t.Fatal(err)
	}
	produceN(t, b, "md", 1, 4)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "md-1", "partition.metadata")
	if err := os.WriteFile(path, []byte("version: 0\ntopic_"), 0o644); err != nil {
		t.Fatal(err)
	}
	b = brokertest.Start(t, "log.dirs="+dir)
	if end := endOffset(t, b, "md", 1); end != 4 {
		t.Errorf("end offset %d, want 4", end)
	}
	if id, err := segment.ReadPartitionMetadata(path); err != nil || id != created.ID {
		t.Errorf("partition.metadata after the restart: %v (%v), want %v", id, err, created.ID)
	}
}

// TestMetaPropertiesMissingFromDataDir: a log dir that holds data but whose meta.properties
// is missing, empty or cut in half stops the start with a message naming the file, what is
// wrong and the lines to write; the broker never makes up a new cluster id for that data.
// Writing the lines the message gives brings the broker back with its data.
func TestMetaPropertiesMissingFromDataDir(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	b := brokertest.Start(t, "log.dirs="+dir+","+other)
	clusterID := b.ClusterID()
	if _, err := b.Admin(t).CreateTopic(ctx(t), 4, 1, nil, "data"); err != nil {
		t.Fatal(err)
	}
	produceN(t, b, "data", 0, 7)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "meta.properties")
	original, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	start := func(dirs ...string) error {
		cfg := broker.DefaultConfig()
		cfg.LogDirs, cfg.AdminListener = dirs, ""
		nb, err := broker.New(cfg, slog.New(slog.DiscardHandler))
		if err == nil {
			nb.Close()
		}
		return err
	}
	for _, tc := range []struct {
		name     string
		contents []byte // nil: no file
		dirs     []string
		want     []string // in the error
	}{
		{"missing", nil, []string{dir}, []string{path, "missing", "restore", "cluster.id=<", "node.id=1"}},
		{"empty", []byte{}, []string{dir}, []string{path, "empty", "cluster.id=<", "node.id=1"}},
		{"half", original[:len(original)/2], []string{dir}, []string{path, "has no node.id", "cluster.id=", "node.id=1"}},
		// Another log dir still knows the cluster id: the message gives it.
		{"missing beside a good dir", nil, []string{other, dir}, []string{path, "missing", "cluster.id=" + clusterID + "\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(path)
			if tc.contents != nil {
				if err := os.WriteFile(path, tc.contents, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := start(tc.dirs...)
			if err == nil {
				t.Fatal("the broker started")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if got, _ := os.ReadFile(path); string(got) != string(tc.contents) {
				t.Errorf("meta.properties rewritten: %q", got)
			}
		})
	}
	// The lines the message gives, written by hand.
	if err := os.WriteFile(path, []byte("version=1\ncluster.id="+clusterID+"\nnode.id=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b = brokertest.Start(t, "log.dirs="+dir+","+other)
	if b.ClusterID() != clusterID {
		t.Errorf("cluster id %s, want %s", b.ClusterID(), clusterID)
	}
	if end := endOffset(t, b, "data", 0); end != 7 {
		t.Errorf("end offset %d, want 7", end)
	}
}

// TestMetaPropertiesWrittenInFreshDir: a log dir without data (empty, or only files that
// are not data) is formatted on the first start.
func TestMetaPropertiesWrittenInFreshDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "recovery-point-offset-checkpoint"), []byte("0\n0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := brokertest.Start(t, "log.dirs="+dir)
	props, err := segment.ReadProperties(filepath.Join(dir, "meta.properties"))
	if err != nil || props["cluster.id"] != b.ClusterID() || props["node.id"] != "1" {
		t.Errorf("meta.properties %v (%v), cluster id %s", props, err, b.ClusterID())
	}
}

// mountSmallFS mounts a tmpfs of size bytes over a new temporary directory, unmounted when
// the test ends (after the brokers started later are closed). It skips the test where
// mounting is not allowed (not root).
func mountSmallFS(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)); err != nil {
		t.Skipf("mounting a small tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// freeBytes is what the file system of dir has left.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// TestCreateAllOrNothingOnFullDisk: CreateTopics and CreatePartitions that run out of space
// part of the way through (each partition preallocates at least 1 MiB) answer KAFKA_STORAGE_ERROR and
// leave nothing behind: no partition directory, no topic in the metadata image, the space given back.
// The broker then restarts on the still nearly full disk (a leftover directory used to fail
// its preallocation there and stop the start) and serves.
func TestCreateAllOrNothingOnFullDisk(t *testing.T) {
	dir := mountSmallFS(t, 128<<20)
	b := brokertest.Start(t, "log.dirs="+dir)
	adm := b.Admin(t)
	if _, err := adm.CreateTopic(ctx(t), 1, 1, nil, "small"); err != nil {
		t.Fatal(err)
	}
	produceN(t, b, "small", 0, 5)
	free := freeBytes(t, dir) // some MiB, less than 200 preallocations
	checkNothingLeft := func(topic string) {
		t.Helper()
		if left, _ := filepath.Glob(filepath.Join(dir, topic+"-*")); len(left) != 0 {
			t.Errorf("left behind: %v", left)
		}
		if _, ok := b.Image().Topic(topic); ok {
			t.Errorf("%s in the metadata image", topic)
		}
		if now := freeBytes(t, dir); now < free-(64<<10) {
			t.Errorf("%d bytes free after the failed create, %d before", now, free)
		}
	}
	if _, err := adm.CreateTopic(ctx(t), 200, 1, nil, "big"); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("create of 200 partitions on %d free bytes: %v", free, err)
	}
	checkNothingLeft("big")
	if resp, err := adm.CreatePartitions(ctx(t), 200, "small"); err != nil || !errors.Is(resp["small"].Err, kerr.KafkaStorageError) {
		t.Fatalf("adding 200 partitions on %d free bytes: %v %v", free, err, resp["small"].Err)
	}
	checkNothingLeft("small-1")
	if topics, err := adm.ListTopics(ctx(t), "small"); err != nil || len(topics["small"].Partitions) != 1 {
		t.Fatalf("small after the failed growth: %v %+v", err, topics["small"])
	}

	// Keep the disk nearly full across the restart: less than one preallocation left.
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, freeBytes(t, dir)-(512<<10)), 0o644); err != nil {
		t.Fatal(err)
	}
	b = b.Restart(t)
	produceN(t, b, "small", 0, 5)
	if end := endOffset(t, b, "small", 0); end != 10 {
		t.Errorf("end offset %d, want 10", end)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Admin(t).CreateTopic(ctx(t), 2, 1, nil, "big"); err != nil {
		t.Fatalf("create after space was freed: %v", err)
	}
}

// TestBrokenTopicsFileSaysWhatToDo: a topics.json that cannot be read stops the start (the
// topic configs it holds cannot be guessed) with a message that names the file and says what
// to do.
func TestBrokenTopicsFileSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.Start(t, "log.dirs="+dir)
	if _, err := b.Admin(t).CreateTopic(ctx(t), 1, 1, nil, "kept"); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "topics.json")
	if err := os.WriteFile(path, []byte(`{"version": 1, "topi`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := broker.DefaultConfig()
	cfg.LogDirs, cfg.AdminListener = []string{dir}, ""
	_, err := broker.New(cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "restore it") {
		t.Fatalf("start over a broken topics.json: %v", err)
	}
}

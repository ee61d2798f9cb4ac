package broker_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/brokertest"
	"runnel/io/disk/faultfs"
)

// TestStorageFailureTakesLogDirOffline fails every 7th fdatasync of one partition under acks=all
// load: producers get KAFKA_STORAGE_ERROR, Metadata reports the partition offline, the broker
// keeps serving its other log dir, and both a restart on the same data and a start on what a
// power cut would have left (the failed fdatasync's writes lost for good, as Linux may lose
// them) serve every acknowledged record.
func TestStorageFailureTakesLogDirOffline(t *testing.T) {
	root := t.TempDir()
	fs := faultfs.NewCrashable(root)
	dirs := filepath.Join(root, "a") + "," + filepath.Join(root, "b")
	b := brokertest.StartFS(t, fs, "log.dirs="+dirs, "auto.create.topics.enable=false", "runnel.admin.listener=127.0.0.1:0")
	adm := b.Admin(t)
	for _, topic := range []string{"bad", "good"} { // one in each log dir (the emptiest)
		if _, err := adm.CreateTopic(ctx(t), 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	fs.Inject(faultfs.Rule{Op: faultfs.Fdatasync, Every: 7, PathContains: string(filepath.Separator) + "bad-0" + string(filepath.Separator)})

	cl := b.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(0), kgo.MaxBufferedRecords(64))
	var mu sync.Mutex
	acked := map[int64]string{}
	var errs []error
	for i := range 2000 {
		value := fmt.Sprintf("record-%d", i)
		cl.Produce(ctx(t), &kgo.Record{Topic: "bad", Value: []byte(value)}, func(r *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			} else {
				acked[r.Offset] = value
			}
		})
	}
	if err := cl.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	storageErrs := 0
	for _, err := range errs {
		if errors.Is(err, kerr.KafkaStorageError) {
			storageErrs++
		}
	}
	if storageErrs == 0 || len(acked) == 0 {
		t.Fatalf("%d records acknowledged, %d failed, %d with KAFKA_STORAGE_ERROR; want some of each (errors: %v)", len(acked), len(errs), storageErrs, errs[:min(len(errs), 3)])
	}
	t.Logf("%d records acknowledged, %d failed (%d with KAFKA_STORAGE_ERROR)", len(acked), len(errs), storageErrs)

	md, err := adm.Metadata(ctx(t), "bad", "good")
	if err != nil {
		t.Fatal(err)
	}
	bad := md.Topics["bad"].Partitions[0]
	if !errors.Is(bad.Err, kerr.LeaderNotAvailable) || bad.Leader != -1 || len(bad.OfflineReplicas) != 1 {
		t.Fatalf("metadata of the failed partition: err %v, leader %d, offline %v; want LEADER_NOT_AVAILABLE, -1, [node]", bad.Err, bad.Leader, bad.OfflineReplicas)
	}
	if good := md.Topics["good"].Partitions[0]; good.Err != nil || good.Leader < 0 {
		t.Fatalf("metadata of the healthy partition: err %v, leader %d", good.Err, good.Leader)
	}
	if _, err := cl.ProduceSync(ctx(t), &kgo.Record{Topic: "good", Value: []byte("still served")}).First(); err != nil {
		t.Fatalf("produce to the healthy log dir: %v", err)
	}
	// Clients route ListOffsets to the leader, which there is none: ask the broker directly.
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "bad"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx(t), cl.Broker(int(md.Brokers[0].NodeID)))
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.KafkaStorageError.Code {
		t.Fatalf("ListOffsets of the failed partition: error %d, want KAFKA_STORAGE_ERROR", code)
	}
	_, text := httpGet(t, "http://"+b.AdminAddr().String()+"/metrics")
	for _, series := range []string{"runnel_log_dirs_offline", "runnel_log_dir_failures_total"} {
		if v := metricValue(t, text, series); v != 1 {
			t.Errorf("%s = %v, want 1", series, v)
		}
	}

	if err := b.Close(); err != nil {
		t.Fatalf("closing a broker with an offline log dir: %v", err)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	if err := fs.CrashClone(clone); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*brokertest.Broker{
		b.Restart(t),
		brokertest.Start(t, "log.dirs="+filepath.Join(clone, "a")+","+filepath.Join(clone, "b")),
	} {
		consumed := consumeAll(t, b, "bad", len(acked))
		for offset, value := range acked {
			if got, ok := consumed[offset]; !ok || got != value {
				t.Fatalf("%v: acknowledged offset %d: got %q (present %v), want %q", b.Dirs, offset, got, ok, value)
			}
		}
		if got := consumeAll(t, b, "good", 1); got[0] != "still served" {
			t.Fatalf("%v: healthy topic after restart: %v", b.Dirs, got)
		}
	}
}

// consumeAll reads topic's partition 0 from the start until it has n records or reached the
// high watermark, and returns them by offset.
func consumeAll(t *testing.T, b *brokertest.Broker, topic string, n int) map[int64]string {
	t.Helper()
	cl := b.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[int64]string{}
	c := ctx(t)
	for hw, next := int64(-1), int64(0); len(got) < n && (hw < 0 || next < hw); {
		fetches := cl.PollFetches(c)
		if err := c.Err(); err != nil {
			t.Fatalf("consuming %s: %d of %d records: %v", topic, len(got), n, err)
		}
		fetches.EachError(func(_ string, _ int32, err error) { t.Fatalf("consuming %s: %v", topic, err) })
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			hw = p.HighWatermark
			p.EachRecord(func(r *kgo.Record) {
				got[r.Offset] = string(r.Value)
				next = r.Offset + 1
			})
		})
	}
	return got
}

package broker_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker/brokertest"
	"runnel/io/disk/faultfs"
)

// TestStorageFailureTakesLogDirOffline fails an fdatasync of one partition under acks=all load:
// the producer gets KAFKA_STORAGE_ERROR and nothing after it is acknowledged, Metadata reports
// the partition offline, the broker keeps serving its other log dir, and a restart on the same
// data serves every acknowledged record.
func TestStorageFailureTakesLogDirOffline(t *testing.T) {
	fs := faultfs.New()
	dirs := filepath.Join(t.TempDir(), "a") + "," + filepath.Join(t.TempDir(), "b")
	b := brokertest.StartFS(t, fs, "log.dirs="+dirs, "auto.create.topics.enable=false")
	adm := b.Admin(t)
	for _, topic := range []string{"bad", "good"} { // one in each log dir (the emptiest)
		if _, err := adm.CreateTopic(ctx(t), 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	fs.Inject(faultfs.Rule{Op: faultfs.Fdatasync, Every: 7, PathContains: string(filepath.Separator) + "bad-0" + string(filepath.Separator)})

	cl := b.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(0))
	acked := map[int64]string{}
	var produceErr error
	for i := 0; produceErr == nil; i++ {
		if i == 1000 {
			t.Fatal("no produce failed after 1000 records")
		}
		value := fmt.Sprintf("record-%d", i)
		r, err := cl.ProduceSync(ctx(t), &kgo.Record{Topic: "bad", Value: []byte(value)}).First()
		if err != nil {
			produceErr = err
			break
		}
		acked[r.Offset] = value
	}
	if !errors.Is(produceErr, kerr.KafkaStorageError) {
		t.Fatalf("produce failed with %v, want KAFKA_STORAGE_ERROR", produceErr)
	}
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged before the failure")
	}

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

	b = b.Restart(t)
	consumed := consumeAll(t, b, "bad", len(acked))
	for offset, value := range acked {
		if got, ok := consumed[offset]; !ok || got != value {
			t.Fatalf("acknowledged offset %d: got %q (present %v), want %q", offset, got, ok, value)
		}
	}
	if got := consumeAll(t, b, "good", 1); got[0] != "still served" {
		t.Fatalf("healthy topic after restart: %v", got)
	}
}

// consumeAll reads topic's partition 0 from the start until it has at least n records, and
// returns them by offset.
func consumeAll(t *testing.T, b *brokertest.Broker, topic string, n int) map[int64]string {
	t.Helper()
	cl := b.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[int64]string{}
	c := ctx(t)
	for len(got) < n {
		fetches := cl.PollFetches(c)
		if err := c.Err(); err != nil {
			t.Fatalf("consuming %s: %d of %d records: %v", topic, len(got), n, err)
		}
		fetches.EachError(func(_ string, _ int32, err error) { t.Fatalf("consuming %s: %v", topic, err) })
		fetches.EachRecord(func(r *kgo.Record) { got[r.Offset] = string(r.Value) })
	}
	return got
}

package broker_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker/brokertest"
	"runnel/io/disk/disktest"
)

// TestDiskFull produces (franz-go, acks=all, idempotent) onto a small ext4 with less free
// space than one preallocation chunk: records are acknowledged until the disk is full, then
// fail with KAFKA_STORAGE_ERROR; the metrics say the log dir is short of space; producing
// resumes once a little space is freed; every acknowledged record is there, also after the
// broker restarts on the full disk. Needs root (skipped otherwise).
func TestDiskFull(t *testing.T) {
	mnt := disktest.SmallExt4(t, 96)
	data := filepath.Join(mnt, "data")
	props := []string{"log.dirs=" + data, "runnel.admin.listener=127.0.0.1:0",
		"runnel.segment.preallocate.bytes=16777216", "log.segment.bytes=33554432", "auto.create.topics.enable=false"}
	b := brokertest.Start(t, props...)
	if _, err := b.Admin(t).CreateTopic(ctx(t), 1, 1, nil, "full"); err != nil {
		t.Fatal(err)
	}
	// Few quick retries, so that errors reach the test in milliseconds.
	producerOpts := []kgo.Opt{kgo.DefaultProduceTopic("full"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(2), kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }),
		kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MetadataMinAge(10 * time.Millisecond)}
	cl := b.Client(t, producerOpts...)
	var acked []string
	produce := func() error {
		v := fmt.Sprintf("%08d-%065536d", len(acked), 0)
		err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte(v)}).FirstErr()
		if err == nil {
			acked = append(acked, v)
		} else if !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("produce on a full disk: %v, want KAFKA_STORAGE_ERROR", err)
		}
		return err
	}

	filler := disktest.Fill(t, mnt, 8<<20)
	free := disktest.Available(t, mnt)
	start := time.Now()
	for produce() == nil {
	}
	if bytes := int64(len(acked)) << 16; bytes < free-(1<<20) {
		t.Fatalf("produce refused after %d bytes with %d free at the start", bytes, free)
	}
	t.Logf("%d records acknowledged, then KAFKA_STORAGE_ERROR after %v", len(acked), time.Since(start))
	_, text := httpGet(t, "http://"+b.AdminAddr().String()+"/metrics")
	if v := metricValue(t, text, `runnel_log_dir_short_of_space{dir="`+data+`"}`); v != 1 {
		t.Errorf("runnel_log_dir_short_of_space = %v, want 1", v)
	}
	if v := metricValue(t, text, `runnel_log_dir_no_space_appends_total{dir="`+data+`"}`); v < 1 {
		t.Errorf("runnel_log_dir_no_space_appends_total = %v, want at least 1", v)
	}

	disktest.Free(t, filler, 2<<20) // a little: an eighth of a chunk
	for i := range 16 {             // 1 MiB
		if err := produce(); err != nil {
			t.Fatalf("produce %d after freeing 2 MiB: %v", i, err)
		}
	}
	checkRecords(t, b, "full", acked)

	// Restart with nothing free: the filler takes what the clean shutdown gave back.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	filler2 := disktest.Fill(t, mnt, 0)
	b = brokertest.Start(t, props...)
	checkRecords(t, b, "full", acked)
	disktest.Fill(t, mnt, 0) // and what opening gave back
	cl = b.Client(t, producerOpts...)
	if produce() == nil {
		t.Fatal("produce succeeded after a restart on a full disk")
	}
	disktest.Free(t, filler2, 2<<20)
	if err := produce(); err != nil {
		t.Fatalf("produce after a restart on a full disk and freeing 2 MiB: %v", err)
	}
	checkRecords(t, b, "full", acked)
}

// checkRecords consumes topic from the start and checks that it holds exactly want, in order.
func checkRecords(t *testing.T, b *brokertest.Broker, topic string, want []string) {
	t.Helper()
	cl := b.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	c := ctx(t)
	for len(got) < len(want) {
		fs := cl.PollFetches(c)
		if err := c.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(got), len(want), err)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch: %v", e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Fatalf("record %d: got %.20q, want %.20q", i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
}

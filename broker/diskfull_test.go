package broker_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker/brokertest"
	"runnel/io/disk/disktest"
)

// acked records what the broker acknowledged: partition -> offset -> value.
type acked struct {
	mu      sync.Mutex
	records map[int32]map[int64]string
	bytes   int64
}

func (a *acked) add(r *kgo.Record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.records[r.Partition] == nil {
		a.records[r.Partition] = map[int64]string{}
	}
	a.records[r.Partition][r.Offset] = string(r.Value)
	a.bytes += int64(len(r.Value))
}

// TestDiskFull produces (franz-go, acks=all, idempotent, four partitions, many records in
// flight) onto a small ext4 with less free space than one preallocation chunk: records are
// acknowledged until the disk is full, then fail with KAFKA_STORAGE_ERROR; the metrics say
// the log dir is short of space; producing resumes once a little space is freed; the log
// holds exactly the acknowledged records, also after the broker restarts with nothing free.
// Needs root (skipped otherwise).
func TestDiskFull(t *testing.T) {
	mnt := disktest.SmallExt4(t, 96)
	data := filepath.Join(mnt, "data")
	props := []string{"log.dirs=" + data, "runnel.admin.listener=127.0.0.1:0",
		"runnel.segment.preallocate.bytes=16777216", "log.segment.bytes=33554432", "log.index.size.max.bytes=1048576",
		"auto.create.topics.enable=false"}
	b := brokertest.Start(t, props...)
	if _, err := b.Admin(t).CreateTopic(ctx(t), 4, 1, nil, "full"); err != nil {
		t.Fatal(err)
	}
	// Few quick retries, so that errors reach the test in milliseconds.
	producerOpts := []kgo.Opt{kgo.DefaultProduceTopic("full"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(2), kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }),
		kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MetadataMinAge(10 * time.Millisecond), kgo.MaxBufferedRecords(32)}
	cl := b.Client(t, producerOpts...)
	got := &acked{records: map[int32]map[int64]string{}}
	var seq atomic.Int64
	value := func() []byte { return fmt.Appendf(nil, "%08d-%065536d", seq.Add(1), 0) }
	produceSync := func() error {
		r := &kgo.Record{Value: value()}
		err := cl.ProduceSync(context.Background(), r).FirstErr()
		if err == nil {
			got.add(r)
		} else if !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("produce on a full disk: %v, want KAFKA_STORAGE_ERROR", err)
		}
		return err
	}

	filler := disktest.Fill(t, mnt, 8<<20)
	free := disktest.Available(t, mnt)
	start := time.Now()
	var refused atomic.Int32
	var otherErr atomic.Pointer[error]
	for i := 0; refused.Load() < 8; i++ {
		if i == 2000 { // 128 MiB
			t.Fatal("no produce refused on a full disk")
		}
		cl.Produce(context.Background(), &kgo.Record{Value: value()}, func(r *kgo.Record, err error) {
			switch {
			case err == nil:
				got.add(r)
			case errors.Is(err, kerr.KafkaStorageError):
				refused.Add(1)
			default:
				otherErr.Store(&err)
			}
		})
	}
	if err := cl.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := otherErr.Load(); err != nil {
		t.Fatalf("produce on a full disk: %v, want KAFKA_STORAGE_ERROR", *err)
	}
	if got.bytes < free-(2<<20) {
		t.Fatalf("produce refused after %d bytes with %d free at the start", got.bytes, free)
	}
	t.Logf("%d bytes acknowledged of %d free, %d produces refused after %v", got.bytes, free, refused.Load(), time.Since(start))
	_, text := httpGet(t, "http://"+b.AdminAddr().String()+"/metrics")
	if v := metricValue(t, text, `runnel_log_dir_short_of_space{dir="`+data+`"}`); v != 1 {
		t.Errorf("runnel_log_dir_short_of_space = %v, want 1", v)
	}
	if v := metricValue(t, text, `runnel_log_dir_no_space_appends_total{dir="`+data+`"}`); v < 1 {
		t.Errorf("runnel_log_dir_no_space_appends_total = %v, want at least 1", v)
	}

	disktest.Free(t, filler, 2<<20) // a little: an eighth of a chunk
	for i := range 16 {             // 1 MiB
		if err := produceSync(); err != nil {
			t.Fatalf("produce %d after freeing 2 MiB: %v", i, err)
		}
	}
	checkRecords(t, b, "full", got.records)

	// Restart with nothing free but what the metadata log needs to start (a
	// new term and its leader's entry; at worst a new segment with its
	// indexes): the filler takes the rest of what the clean shutdown gave back.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	filler2 := disktest.Fill(t, mnt, 1<<20)
	b = brokertest.Start(t, props...)
	checkRecords(t, b, "full", got.records)
	disktest.Fill(t, mnt, 0) // and what opening gave back
	cl = b.Client(t, producerOpts...)
	if produceSync() == nil {
		t.Fatal("produce succeeded after a restart on a full disk")
	}
	disktest.Free(t, filler2, 2<<20)
	if err := produceSync(); err != nil {
		t.Fatalf("produce after a restart on a full disk and freeing 2 MiB: %v", err)
	}
	checkRecords(t, b, "full", got.records)
}

// checkRecords consumes topic from the start and checks that it holds exactly want
// (partition -> offset -> value).
func checkRecords(t *testing.T, b *brokertest.Broker, topic string, want map[int32]map[int64]string) {
	t.Helper()
	n := 0
	for _, p := range want {
		n += len(p)
	}
	cl := b.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[int32]map[int64]string{}
	c := ctx(t)
	for seen := 0; seen < n; {
		fs := cl.PollFetches(c)
		if err := c.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", seen, n, err)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch: %v", e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if got[r.Partition] == nil {
				got[r.Partition] = map[int64]string{}
			}
			got[r.Partition][r.Offset] = string(r.Value)
			seen++
		})
	}
	for p, records := range want {
		for offset, v := range records {
			if got[p][offset] != v {
				t.Fatalf("partition %d offset %d: got %.20q, want the acknowledged %.20q", p, offset, got[p][offset], v)
			}
		}
		if !maps.Equal(got[p], records) {
			t.Fatalf("partition %d holds %d records, %d acknowledged", p, len(got[p]), len(records))
		}
	}
}

// TestDiskFullCreateTopicsRestart: a CreateTopics that runs out of space half-way (each
// partition reserves 20 MiB of index files) is answered, and the broker restarts on the
// full disk with whatever partition directories it left. Needs root (skipped otherwise).
func TestDiskFullCreateTopicsRestart(t *testing.T) {
	mnt := disktest.SmallExt4(t, 64)
	b := brokertest.Start(t, "log.dirs="+filepath.Join(mnt, "data"))
	resp, err := b.Admin(t).CreateTopic(ctx(t), 200, 1, nil, "many")
	if err == nil {
		err = resp.Err
	}
	t.Logf("CreateTopics of 200 partitions on a 64 MiB disk: %v", err)
	if err != nil && !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("CreateTopics on a full disk: %v, want success or KAFKA_STORAGE_ERROR", err)
	}
	disktest.Fill(t, mnt, 0)
	b.Restart(t)
}

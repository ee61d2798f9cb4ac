package broker_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker/brokertest"
	"runnel/internal/wait"
)

// compactedTopicConfigs make a compacted topic with tiny segments that the cleaner takes at
// once.
var compactedTopicConfigs = map[string]*string{
	"cleanup.policy":            kadm.StringPtr("compact"),
	"segment.bytes":             kadm.StringPtr("4096"),
	"segment.index.bytes":       kadm.StringPtr("4096"),
	"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
}

// TestCompactedTopicConsumedWhileCleaned: consumers (kgo) read a compacted topic from its
// start, again and again, while a producer (idempotent, kgo's default) overwrites its keys and
// the cleaner compacts it. Every record read is the one produced at its offset, offsets
// increase, no fetch fails; once producing stops and the cleaner has run, a read from the
// start sees the latest value of every key and the log is smaller than what was produced.
func TestCompactedTopicConsumedWhileCleaned(t *testing.T) {
	b := brokertest.Start(t, "log.cleaner.backoff.ms=20", "runnel.segment.preallocate.bytes=4096")
	const topic, keys = "compacted", 40
	if _, err := b.Admin(t).CreateTopic(ctx(t), 1, 1, compactedTopicConfigs, topic); err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		produced = map[int64]string{} // offset -> key=value
		latest   = map[string]string{}
	)
	producer := b.Client(t, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
	var rounds atomic.Int64
	stop := make(chan struct{})
	producing := make(chan struct{})
	go func() {
		defer close(producing)
		for round := 0; ; round++ {
			select {
			case <-stop:
				return
			default:
			}
			var records []*kgo.Record
			for k := range keys {
				key := fmt.Sprintf("key-%02d", k)
				value := fmt.Sprintf("%s@%d", key, round)
				if k%7 == round%7 {
					value = fmt.Sprintf("%s@%d with a longer value to fill segments faster", key, round)
				}
				records = append(records, &kgo.Record{Key: []byte(key), Value: []byte(value)})
			}
			res := producer.ProduceSync(context.Background(), records...)
			if err := res.FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			mu.Lock()
			for _, r := range res {
				produced[r.Record.Offset] = string(r.Record.Key) + "=" + string(r.Record.Value)
				latest[string(r.Record.Key)] = string(r.Record.Value)
			}
			mu.Unlock()
			rounds.Add(1)
		}
	}()
	// readAll reads the topic from its start up to its end offset at the call.
	var lastRead int // records the last readAll read
	readAll := func() map[string]string {
		lastRead = 0
		end := endOffset(t, b, topic, 0)
		seen := map[string]string{}
		cl := b.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		defer cl.Close()
		last := int64(-1)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for last < end-1 {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("reading to %d: at %d after %v", end, last, err)
			}
			fs.EachError(func(topic string, p int32, err error) { t.Errorf("fetch %s/%d: %v", topic, p, err) })
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset <= last {
					t.Errorf("offset %d after %d", r.Offset, last)
				}
				last = r.Offset
				lastRead++
				mu.Lock()
				want, ok := produced[r.Offset]
				mu.Unlock()
				if got := string(r.Key) + "=" + string(r.Value); ok && got != want {
					t.Errorf("offset %d holds %q, produced %q", r.Offset, got, want)
				}
				seen[string(r.Key)] = string(r.Value)
			})
			if t.Failed() {
				t.FailNow()
			}
		}
		return seen
	}
	wait.Until(t, 60*time.Second, "the cleaner to clean while producing", func() bool {
		readAll()
		return b.CleanerStats().BytesCleaned > 0 && rounds.Load() > 50
	})
	for range 3 {
		readAll()
	}
	close(stop)
	<-producing
	stopped := time.Now()
	// A clean that was running when the producer stopped covers only what was there when it
	// began: wait for one that began after the last produce (its end less its duration, to
	// the millisecond LastClean keeps). The last clean may already have taken everything below
	// the active segment, which is never cleaned: then nothing is dirty (ratio 0) and no clean
	// comes.
	wait.Until(t, 30*time.Second, "a clean begun after the last produce, or nothing left to clean", func() bool {
		s := b.CleanerStats()
		return s.LastClean.Add(-s.LastDuration).After(stopped.Add(time.Millisecond)) || s.MaxDirtyRatio == 0
	})
	seen := readAll()
	mu.Lock()
	defer mu.Unlock()
	for k, v := range latest {
		if seen[k] != v {
			t.Errorf("key %s: read %q, latest %q", k, seen[k], v)
		}
	}
	if lastRead >= len(produced)/2 {
		t.Errorf("read %d records of the %d produced: not compacted", lastRead, len(produced))
	}
	t.Logf("%d rounds of %d keys produced; cleaner stats %+v", rounds.Load(), keys, b.CleanerStats())
}

// TestConsumerOffsetsStartupAfterCleaning measures a broker's startup against the number of
// offset commits made, before and after the cleaner compacted __consumer_offsets: startup
// replays the topic, so it grows with the commits until they are cleaned. The commit count is
// RUNNEL_STARTUP_COMMITS (default 20000, a few groups); the figures are logged (go test -v).
func TestConsumerOffsetsStartupAfterCleaning(t *testing.T) {
	commits := 20000
	if n, err := strconv.Atoi(os.Getenv("RUNNEL_STARTUP_COMMITS")); err == nil {
		commits = n
	}
	dir := t.TempDir()
	settings := []string{"log.dirs=" + dir, "offsets.topic.num.partitions=1", "log.cleaner.backoff.ms=50",
		"runnel.segment.preallocate.bytes=65536"}
	b := brokertest.Start(t, append(settings, "log.cleaner.enable=false")...)
	adm := b.Admin(t)
	if _, err := adm.CreateTopic(ctx(t), 4, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	if rs, err := adm.AlterTopicConfigs(ctx(t), []kadm.AlterConfig{
		{Name: "segment.bytes", Value: kadm.StringPtr("262144")},
		{Name: "min.cleanable.dirty.ratio", Value: kadm.StringPtr("0.1")},
	}, "__consumer_offsets"); err != nil || rs[0].Err != nil {
		t.Fatal(err, rs)
	}
	groups := []string{"g1", "g2", "g3"}
	const perCommit = 4 // one commit sets every partition's offset
	for i := range commits / perCommit {
		offs := kadm.Offsets{}
		for p := range int32(4) {
			offs.Add(kadm.Offset{Topic: "t", Partition: p, At: int64(i), LeaderEpoch: -1})
		}
		if _, err := adm.CommitOffsets(ctx(t), groups[i%len(groups)], offs); err != nil {
			t.Fatal(err)
		}
	}
	startup := func(extra ...string) (time.Duration, *brokertest.Broker) {
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		nb := brokertest.Start(t, append(settings, extra...)...)
		took := time.Since(start)
		fetched, err := nb.Admin(t).FetchOffsets(ctx(t), groups[0])
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := fetched.Lookup("t", 0); !ok || o.At < int64(commits/perCommit-len(groups)) {
			t.Fatalf("group %s offset %+v after the restart, want about %d", groups[0], o, commits/perCommit)
		}
		return took, nb
	}
	size := func(b *brokertest.Broker) int64 {
		ds, err := b.Admin(t).DescribeAllLogDirs(ctx(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		ds.Each(func(d kadm.DescribedLogDir) {
			d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
				if p.Topic == "__consumer_offsets" {
					n += p.Size
				}
			})
		})
		return n
	}
	uncleanedStartup, nb := startup("log.cleaner.enable=false")
	uncleanedSize := size(nb)
	b = nb
	_, b = startup() // with the cleaner
	wait.Until(t, 60*time.Second, "the cleaner to compact __consumer_offsets", func() bool {
		return size(b) < uncleanedSize/4
	})
	cleanedSize := size(b)
	cleanedStartup, _ := startup("log.cleaner.enable=false")
	t.Logf("%d offset commits (%d groups): startup %v with __consumer_offsets of %d bytes; %v after cleaning it to %d bytes",
		commits, len(groups), uncleanedStartup, uncleanedSize, cleanedStartup, cleanedSize)
}

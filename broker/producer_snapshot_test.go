package broker_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/brokertest"
	"runnel/segment/segmenttest"
)

// TestIdempotentRetryAfterRestart: an idempotent producer's batch, acknowledged before the
// partition rolled to later segments, is retried after a broker restart; the broker answers
// with the offsets it got the first time and writes nothing (producer state comes back from
// the snapshot, not only from the active segment). The batches that roll the log come from
// franz-go's own idempotent producer, which keeps producing across the restart.
func TestIdempotentRetryAfterRestart(t *testing.T) {
	b := brokertest.Start(t, "log.dirs="+t.TempDir())
	adm := b.Admin(t)
	small := "1024"
	created, err := adm.CreateTopic(ctx(t), 1, 1, map[string]*string{"segment.bytes": &small}, "dedup")
	if err != nil {
		t.Fatal(err)
	}
	cl := b.Client(t, kgo.DefaultProduceTopic("dedup"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionTimeoutMillis = -1
	initResp, err := init.RequestWith(ctx(t), cl)
	if err == nil {
		err = kerr.ErrorForCode(initResp.ErrorCode)
	}
	if err != nil {
		t.Fatal(err)
	}
	batch := func() []byte {
		return segmenttest.Batch(segmenttest.Values("a", "b"), segmenttest.Producer(initResp.ProducerID, initResp.ProducerEpoch, 0))
	}
	produce := func(cl *kgo.Client) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = "dedup", created.ID // produce v13 names topics by id
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch()
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
			t.Fatalf("produce: %v", err)
		}
		return p
	}
	first := produce(cl)
	filler := strings.Repeat("x", 700) // each batch fills a 1024-byte segment
	for range 3 {
		if err := cl.ProduceSync(ctx(t), kgo.StringRecord(filler)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if logs, _ := filepath.Glob(filepath.Join(b.Dirs[0], "dedup-0", "*.log")); len(logs) < 3 {
		t.Fatalf("segments %v: the test needs the first batch two rolls back", logs)
	}
	b = b.Restart(t)
	cl = b.Client(t, kgo.DefaultProduceTopic("dedup"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	endBefore := endOffset(t, b, "dedup", 0)
	retry := produce(cl)
	if retry.BaseOffset != first.BaseOffset {
		t.Fatalf("retry after restart stored at %d, want the duplicate's offset %d", retry.BaseOffset, first.BaseOffset)
	}
	if end := endOffset(t, b, "dedup", 0); end != endBefore {
		t.Fatalf("log end moved from %d to %d: the retry was written again", endBefore, end)
	}
	if err := cl.ProduceSync(ctx(t), kgo.StringRecord(filler)).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

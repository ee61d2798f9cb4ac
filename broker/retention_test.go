package broker_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker/brokertest"
	"runnel/internal/wait"
)

// TestRetentionLoopAppliesAlteredConfig checks that a topic config changed
// with IncrementalAlterConfigs reaches the live log and that the retention
// loop (log.retention.check.interval.ms) applies it.
func TestRetentionLoopAppliesAlteredConfig(t *testing.T) {
	b := brokertest.Start(t, "log.retention.check.interval.ms=50")
	adm := b.Admin(t)
	// "kept" keeps the default retention, "aging" gets retention.bytes:
	// the passes that trim aging visit kept too, and must leave it whole.
	for _, topic := range []string{"aging", "kept"} {
		if _, err := adm.CreateTopic(ctx(t), 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("2048")}, topic); err != nil {
			t.Fatal(err)
		}
	}
	cl := b.Client(t)
	produce := func(topic string, n int) {
		for range n { // one batch per call: a segment holds two
			value := make([]byte, 700) // incompressible: kgo compresses
			for i := range value {
				value[i] = byte(rand.Uint32())
			}
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: value}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce("aging", 12)
	produce("kept", 12)
	start := func(topic string) int64 {
		offs, err := adm.ListStartOffsets(ctx(t), topic)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := offs.Lookup(topic, 0)
		return o.Offset
	}
	rs, err := adm.AlterTopicConfigs(ctx(t), []kadm.AlterConfig{{Name: "retention.bytes", Value: kadm.StringPtr("2048")}}, "aging")
	if err != nil || rs[0].Err != nil {
		t.Fatal(err, rs)
	}
	wait.Until(t, 10*time.Second, "retention.bytes to apply", func() bool { return start("aging") != 0 })
	first := start("aging")
	if first < 6 {
		t.Errorf("start offset %d: retention.bytes 2048 should leave a few records of 12", first)
	}
	// The pass that trimmed aging may not have reached kept yet; the pass
	// that trims what is produced now began after it ended.
	produce("aging", 4)
	wait.Until(t, 10*time.Second, "a second retention pass", func() bool { return start("aging") > first })
	if s := start("kept"); s != 0 {
		t.Errorf("start offset %d of a topic with the default retention after two passes", s)
	}
}

package broker_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker/brokertest"
)

// TestRetentionLoopAppliesAlteredConfig checks that a topic config changed
// with IncrementalAlterConfigs reaches the live log and that the retention
// loop (log.retention.check.interval.ms) applies it.
func TestRetentionLoopAppliesAlteredConfig(t *testing.T) {
	b := brokertest.Start(t, "log.retention.check.interval.ms=50")
	adm := b.Admin(t)
	if _, err := adm.CreateTopic(ctx(t), 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("2048")}, "aging"); err != nil {
		t.Fatal(err)
	}
	cl := b.Client(t)
	for range 12 { // one batch per call: a segment holds two
		value := make([]byte, 700) // incompressible: kgo compresses
		for i := range value {
			value[i] = byte(rand.Uint32())
		}
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "aging", Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	start := func() int64 {
		offs, err := adm.ListStartOffsets(ctx(t), "aging")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := offs.Lookup("aging", 0)
		return o.Offset
	}
	time.Sleep(200 * time.Millisecond) // a few retention passes: the default retention keeps everything
	if s := start(); s != 0 {
		t.Fatalf("start offset %d before retention was set", s)
	}
	rs, err := adm.AlterTopicConfigs(ctx(t), []kadm.AlterConfig{{Name: "retention.bytes", Value: kadm.StringPtr("2048")}}, "aging")
	if err != nil || rs[0].Err != nil {
		t.Fatal(err, rs)
	}
	deadline := time.Now().Add(10 * time.Second)
	for start() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("retention.bytes never applied")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := start(); s < 6 {
		t.Errorf("start offset %d: retention.bytes 2048 should leave a few records of 12", s)
	}
}

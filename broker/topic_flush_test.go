package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker/brokertest"
	"runnel/internal/wait"
)

// TestTopicFlushSettings: under the interval policy with the broker-wide
// flush settings at "never", a topic with flush.messages=1 gets flushed
// and a topic without does not.
func TestTopicFlushSettings(t *testing.T) {
	b := brokertest.Start(t, "runnel.flush.policy=interval", "runnel.admin.listener=127.0.0.1:0")
	adm := b.Admin(t)
	if _, err := adm.CreateTopic(ctx(t), 1, 1, map[string]*string{"flush.messages": kadm.StringPtr("1")}, "eager"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx(t), 1, 1, nil, "lazy"); err != nil {
		t.Fatal(err)
	}
	cl := b.Client(t)
	for _, topic := range []string{"eager", "lazy"} {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	flushed := func(topic string) float64 {
		_, text := httpGet(t, "http://"+b.AdminAddr().String()+"/metrics")
		return metricValue(t, text, `runnel_log_flushed_offset{partition="0",topic="`+topic+`"}`)
	}
	wait.Until(t, 5*time.Second, "topic flush.messages=1 to flush", func() bool { return flushed("eager") == 1 })
	if f := flushed("lazy"); f != 0 {
		t.Errorf("lazy topic flushed to %v under the broker's never-flush default", f)
	}
}

package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkObserveReply measures what the request metrics cost a produce
// reply (finding its error code by reflection, a cached counter, a
// histogram), beside the raw baseline of one counter increment and one
// histogram observation.
func BenchmarkObserveReply(b *testing.B) {
	resp := kmsg.NewPtrProduceResponse()
	for range 2 {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = "t"
		for range 4 {
			rt.Partitions = append(rt.Partitions, kmsg.NewProduceResponseTopicPartition())
		}
		resp.Topics = append(resp.Topics, rt)
	}
	m := newMetrics(&Broker{})
	r := &reply{resp: resp, key: kmsg.Produce.Int16(), start: time.Now()}
	b.Run("observeReply", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.observeReply(r)
		}
	})
	b.Run("baseline", func(b *testing.B) {
		c := m.requests.WithLabelValues("Produce", "NONE")
		h := m.latencyByKey[r.key]
		b.ReportAllocs()
		for b.Loop() {
			c.Inc()
			h.Observe(time.Since(r.start).Seconds())
		}
	})
}

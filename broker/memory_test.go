package broker

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/netpoll/netpolltest"
)

// TestStdIdleConnectionHoldsNoWriteBuffer: on the std transport a
// connection that has been answered and is now idle holds no write buffer
// (it kept a 64 KiB bufio.Writer for its whole life). What is left per
// connection is mostly its two goroutines' stacks.
func TestStdIdleConnectionHoldsNoWriteBuffer(t *testing.T) {
	const conns = 300
	d := startDataBroker(t, func(c *Config) { c.Net = NetStd })
	before := netpolltest.HeapInUse()
	held := make([]*rawConn, conns)
	for i := range held {
		rc := dialRaw(t, d.addr)
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		rc.send(req, true)
		if resp := rc.receive().(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
			t.Fatalf("ApiVersions: error %d", resp.ErrorCode)
		}
		held[i] = rc
	}
	perConn := (float64(netpolltest.HeapInUse()) - float64(before)) / conns
	t.Logf("%.0f bytes of heap and stack per idle std connection", perConn)
	if perConn > 32<<10 {
		t.Fatalf("an idle std connection costs %.0f bytes, want under 32 KiB (no write buffer of its own)", perConn)
	}
}

// TestAutoCreateLimits: auto-creation stops at the broker's caps on
// partitions and on the disk they reserve, answering
// UNKNOWN_TOPIC_OR_PARTITION and creating nothing; CreateTopics is not
// limited by them.
func TestAutoCreateLimits(t *testing.T) {
	metadata := func(rc *rawConn, topic string) int16 {
		t.Helper()
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 12
		req.AllowAutoTopicCreation = true
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		rc.send(req, true)
		return rc.receive().(*kmsg.MetadataResponse).Topics[0].ErrorCode
	}
	for _, tc := range []struct {
		name string
		// adjust sets the cap to the partitions and reserved bytes the
		// broker has at its start (the offsets topic) plus those of
		// two 2-partition topics, with a 1 MiB preallocation and two
		// 10 MiB indexes a partition.
		adjust func(c *Config, partitions, reserved int64)
	}{
		{"partitions", func(c *Config, partitions, _ int64) { c.AutoCreateMaxPartitions = int32(partitions) + 5 }},
		{"reserved", func(c *Config, _, reserved int64) { c.AutoCreateMaxReservedBytes = reserved + 5*21<<20 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startDataBroker(t, func(c *Config) {
				c.AutoCreateTopics = true
				c.NumPartitions = 2
			})
			partitions, reserved := d.b.reservations()
			d.stop()
			tc.adjust(&d.cfg, partitions, reserved)
			d.start()
			rc := dialRaw(t, d.addr)
			for _, topic := range []string{"auto-a", "auto-b"} {
				if code := metadata(rc, topic); code != 0 || d.b.topic(topic) == nil {
					t.Fatalf("auto-creating %s under the cap: error %d", topic, code)
				}
			}
			if code := metadata(rc, "auto-c"); code != kerr.UnknownTopicOrPartition.Code || d.b.topic("auto-c") != nil {
				t.Fatalf("auto-creating past the cap: error %d, created %v; want UNKNOWN_TOPIC_OR_PARTITION and nothing", code, d.b.topic("auto-c") != nil)
			}
			if got := counterValue(t, d.b.metrics.autoCreateRefused); got != 1 {
				t.Fatalf("runnel_auto_create_refused_total = %v, want 1", got)
			}
			d.createTopic("admin-made", 2, nil) // fails the test on an error
		})
	}
}

// counterValue reads a counter of the broker's metrics.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

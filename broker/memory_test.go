package broker

import (
	"bytes"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

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

// TestMalformedRequestsLogRateLimited: connections that send garbage are
// each counted, and logged at most closeLogBurst times a minute
// broker-wide (a line per connection before), on both transports.
func TestMalformedRequestsLogRateLimited(t *testing.T) {
	const conns = 3 * closeLogBurst
	for _, netName := range transports {
		t.Run("net="+netName, func(t *testing.T) {
			var logs lockedBuffer
			cfg := DefaultConfig()
			cfg.LogDirs = []string{t.TempDir()}
			cfg.AdminListener = ""
			cfg.PreallocateBytes = 1 << 20
			cfg.Net = netName
			b, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go b.Serve(ln)
			// An 8-byte request header with api key -1, and an 8-byte frame
			// announcing 2 GiB.
			garbage := [][]byte{
				{0, 0, 0, 8, 0xff, 0xff, 0, 0, 0, 0, 0, 1},
				{0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4},
			}
			for i := range conns {
				nc, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := nc.Write(garbage[i%2]); err != nil {
					t.Fatal(err)
				}
				if _, err := nc.Read(make([]byte, 1)); err == nil { // closed by the broker
					t.Fatal("the broker answered garbage")
				}
				nc.Close()
			}
			deadline := time.Now().Add(10 * time.Second)
			for counterValue(t, b.metrics.malformedRequests) < conns {
				if time.Now().After(deadline) {
					t.Fatalf("runnel_malformed_requests_total = %v, want %d", counterValue(t, b.metrics.malformedRequests), conns)
				}
				runtime.Gosched()
			}
			lines := strings.Count(logs.String(), "closing connection")
			if lines == 0 || lines > closeLogBurst {
				t.Fatalf("%d connections closed on garbage logged %d lines, want 1..%d:\n%s", conns, lines, closeLogBurst, logs.String())
			}
		})
	}
}

// lockedBuffer is a log destination for several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogLimiter: burst events per interval pass, the rest are held back
// and reported by the next that passes.
func TestLogLimiter(t *testing.T) {
	l := logLimiter{burst: 2, interval: time.Minute}
	start := time.Unix(1000, 0)
	for i, want := range []bool{true, true, false, false, false} {
		if ok, suppressed := l.allow(start.Add(time.Duration(i) * time.Second)); ok != want || suppressed != 0 {
			t.Fatalf("event %d: allow = %v, %d; want %v, 0", i, ok, suppressed, want)
		}
	}
	if ok, suppressed := l.allow(start.Add(time.Minute)); !ok || suppressed != 3 {
		t.Fatalf("first event of the next interval: allow = %v, %d; want true, 3", ok, suppressed)
	}
}

package broker

import (
	"bytes"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/netpoll/netpolltest"
	"runnel/segment/segmenttest"
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

// TestStdIdleProducerHoldsNoFrameBuffer: on the std transport a
// connection that has sent a 256 KiB produce and is now idle holds no
// frame buffer (it kept its last one, up to 1 MiB): the buffer went back
// to a pool shared by the connections.
func TestStdIdleProducerHoldsNoFrameBuffer(t *testing.T) {
	const conns = 64
	d := startDataBroker(t, func(c *Config) { c.Net = NetStd })
	d.createTopic("idle-producers", 1, nil)
	frame := largeProduceFrame("idle-producers", 256<<10)
	before := netpolltest.HeapInUse()
	held := make([]*rawConn, conns)
	for i := range held {
		rc := dialRaw(t, d.addr)
		if _, err := rc.c.Write(frame); err != nil {
			t.Fatal(err)
		}
		rc.sent = append(rc.sent, kmsg.NewPtrProduceRequest())
		rc.sent[0].SetVersion(9)
		if code := rc.receive().(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("produce: error %d", code)
		}
		held[i] = rc
	}
	perConn := (float64(netpolltest.HeapInUse()) - float64(before)) / conns
	t.Logf("%.0f bytes of heap and stack per idle std producer connection", perConn)
	if perConn > 32<<10 {
		t.Fatalf("an idle std producer connection costs %.0f bytes, want under 32 KiB (no frame buffer of its own)", perConn)
	}
	runtime.KeepAlive(frame)
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
			// The counter goes up before the line is written: wait for both.
			for counterValue(t, b.metrics.malformedRequests) < conns || !strings.Contains(logs.String(), "closing connection") {
				if time.Now().After(deadline) {
					t.Fatalf("runnel_malformed_requests_total = %v, want %d; %d lines logged", counterValue(t, b.metrics.malformedRequests), conns, strings.Count(logs.String(), "closing connection"))
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

// largeProduceFrame is a framed Produce v9 request (acks=1) of one batch
// holding one record of valueSize bytes, to topic's partition 0.
func largeProduceFrame(topic string, valueSize int) []byte {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, 1, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = segmenttest.Batch([]segmenttest.Record{{Value: make([]byte, valueSize)}})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("large")).AppendRequest(nil, req, 1)
}

// largeFrameCost sends one produce frame of about size bytes on a new
// connection and returns what the process (the broker; the frame is built
// before) allocated while it was read and handled, the highest heap in use
// seen meanwhile, and the heap still in use after one GC (sync.Pools keep
// their buffers through one) over the heap before.
func largeFrameCost(t testing.TB, d *dataBroker, topic string, size int) (allocated, peak, afterGC int64) {
	frame := largeProduceFrame(topic, size)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var maxInUse atomic.Uint64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			maxInUse.Store(max(maxInUse.Load(), m.HeapInuse))
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	rc := dialRaw(t, d.addr)
	if _, err := rc.c.Write(frame); err != nil {
		t.Fatal(err)
	}
	rc.sent = append(rc.sent, kmsg.NewPtrProduceRequest())
	rc.sent[0].SetVersion(9)
	if code := rc.receive().(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("large produce: error %d", code)
	}
	close(stop)
	<-sampled
	runtime.ReadMemStats(&after)
	runtime.GC()
	var gced runtime.MemStats
	runtime.ReadMemStats(&gced)
	runtime.KeepAlive(frame) // counted in before
	return int64(after.TotalAlloc - before.TotalAlloc), int64(maxInUse.Load()) - int64(before.HeapInuse), int64(gced.HeapInuse) - int64(before.HeapInuse)
}

// TestLargeFrameOneCopy: a 100 MiB produce is read into one buffer of its
// size class, not grown by doubling (which allocated about twice its size
// and kept the intermediate buffers pooled), on both transports.
func TestLargeFrameOneCopy(t *testing.T) {
	const size = 100<<20 - 64<<10 // socket.request.max.bytes is 100 MiB
	for _, netName := range transports {
		t.Run("net="+netName, func(t *testing.T) {
			d := startDataBroker(t, func(c *Config) { c.Net = netName })
			d.createTopic("large", 1, map[string]*string{"max.message.bytes": kmsg.StringPtr("134217728")})
			allocated, peak, afterGC := largeFrameCost(t, d, "large", size)
			t.Logf("one %d MiB produce: %d MiB allocated, heap in use up to %d MiB more, %d MiB more after a GC",
				size>>20, allocated>>20, peak>>20, afterGC>>20)
			if allocated > 192<<20 {
				t.Fatalf("one %d MiB produce allocated %d MiB, want one buffer of 128 MiB", size>>20, allocated>>20)
			}
		})
	}
}

// TestSlowLargeFramesShareBufferAhead (std): of connections that announce
// a 90 MiB frame and send 1,000 bytes of it, only as many as
// runnel.request.buffer.ahead.bytes allows get the frame's whole buffer;
// the others hold about what they sent. Sent in full, all are answered.
func TestSlowLargeFramesShareBufferAhead(t *testing.T) {
	const conns, size, sent, ahead = 4, 90 << 20, 1000, 128 << 20
	d := startDataBroker(t, func(c *Config) {
		c.Net = NetStd
		c.RequestBufferAhead = ahead
	})
	d.createTopic("slow", 1, map[string]*string{"max.message.bytes": kmsg.StringPtr("134217728")})
	frame := largeProduceFrame("slow", size)
	before := netpolltest.HeapInUse()
	rcs := make([]*rawConn, conns)
	for i := range rcs {
		rcs[i] = dialRaw(t, d.addr)
		if _, err := rcs[i].c.Write(frame[:sent]); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for d.connections() < conns || d.b.bufferAhead.Load() < ahead {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, %d bytes given ahead", d.connections(), d.b.bufferAhead.Load())
		}
		runtime.Gosched()
	}
	if got := d.b.bufferAhead.Load(); got != ahead {
		t.Fatalf("%d bytes given ahead, want %d", got, ahead)
	}
	grown := (float64(netpolltest.HeapInUse()) - float64(before) - ahead) / conns
	t.Logf("%d connections that sent %d bytes of a %d MiB frame: %.0f bytes of heap each beyond the buffer ahead", conns, sent, size>>20, grown)
	if grown > 1<<20 {
		t.Fatalf("a connection that sent %d bytes of a frame holds %.0f bytes of heap", sent, grown)
	}
	for _, rc := range rcs {
		if _, err := rc.c.Write(frame[sent:]); err != nil {
			t.Fatal(err)
		}
		rc.sent = append(rc.sent, kmsg.NewPtrProduceRequest())
		rc.sent[0].SetVersion(9)
		if code := rc.receive().(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("slow large produce: error %d", code)
		}
	}
	if got := d.b.bufferAhead.Load(); got != 0 {
		t.Fatalf("%d bytes still given ahead once every frame has arrived", got)
	}
}

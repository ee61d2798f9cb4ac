package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/internal/wait"
	"runnel/io/flush"
	"runnel/segment"
	"runnel/segment/segmenttest"
)

// dataBroker is a real broker on a loopback port over a data directory that
// outlives it, for the data-path tests (produce, fetch, offsets).
type dataBroker struct {
	t    testing.TB
	dir  string
	cfg  Config
	b    *Broker
	addr string
}

// startDataBroker starts a broker over a fresh temporary directory; adjust
// changes its config.
func startDataBroker(t testing.TB, adjust func(*Config)) *dataBroker {
	t.Helper()
	cfg := DefaultConfig()
	cfg.LogDirs = []string{t.TempDir()}
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.AdvertisedHost, cfg.AdvertisedPort = "127.0.0.1", 0
	cfg.AdminListener = ""
	cfg.AutoCreateTopics = false
	cfg.PreallocateBytes = 1 << 20
	if adjust != nil {
		adjust(&cfg)
	}
	d := &dataBroker{t: t, dir: cfg.LogDirs[0], cfg: cfg}
	d.start()
	t.Cleanup(d.stop)
	return d
}

func (d *dataBroker) start() {
	d.t.Helper()
	b, err := New(d.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		d.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Close()
		d.t.Fatal(err)
	}
	go b.Serve(ln)
	d.b, d.addr = b, ln.Addr().String()
}

func (d *dataBroker) stop() {
	if d.b != nil {
		if err := d.b.Close(); err != nil {
			d.t.Errorf("closing the broker: %v", err)
		}
		d.b = nil
	}
}

// restart closes the broker cleanly and opens it again over the same data;
// it listens on a new port, so make new clients.
func (d *dataBroker) restart() {
	d.t.Helper()
	d.stop()
	d.start()
}

// client returns a franz-go client of the broker, closed with the test.
func (d *dataBroker) client(opts ...kgo.Opt) *kgo.Client {
	d.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(d.addr), kgo.MetadataMinAge(50 * time.Millisecond)}, opts...)...)
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(cl.Close)
	return cl
}

// admin returns a kadm client of the broker.
func (d *dataBroker) admin() *kadm.Client { return kadm.NewClient(d.client()) }

// createTopic creates a topic with kadm.
func (d *dataBroker) createTopic(name string, partitions int32, configs map[string]*string) {
	d.t.Helper()
	adm := d.admin()
	resp, err := adm.CreateTopic(context.Background(), partitions, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		d.t.Fatalf("creating topic %s: %v", name, err)
	}
}

// request sends one raw request and returns the response.
func roundTrip[R kmsg.Response](t testing.TB, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.Request(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp.(R)
}

var codecs = []struct {
	name  string
	codec kgo.CompressionCodec
}{
	{"none", kgo.NoCompression()},
	{"gzip", kgo.GzipCompression()},
	{"snappy", kgo.SnappyCompression()},
	{"lz4", kgo.Lz4Compression()},
	{"zstd", kgo.ZstdCompression()},
}

// testRecords are records with keys, values and headers, some null.
func testRecords(topic string, n int) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{
			Topic:   topic,
			Key:     fmt.Appendf(nil, "key-%d", i%7),
			Value:   fmt.Appendf(nil, "value %d of %s: %0*d", i, topic, i%300, 0),
			Headers: []kgo.RecordHeader{{Key: "i", Value: fmt.Appendf(nil, "%d", i)}, {Key: "empty"}},
		}
		if i%10 == 3 {
			recs[i].Key = nil
		}
	}
	return recs
}

// consumeAll reads n records of topic from the beginning.
func consumeAll(t testing.TB, d *dataBroker, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := d.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records of %s: %v", len(got), n, topic, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		got = append(got, fs.Records()...)
	}
	if len(got) != n {
		t.Fatalf("consumed %d records of %s, want %d", len(got), topic, n)
	}
	return got
}

// sameRecords compares consumed records with those produced, in order
// (one partition).
func sameRecords(t testing.TB, got, want []*kgo.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Offset != int64(i) || string(g.Key) != string(w.Key) || (g.Key == nil) != (w.Key == nil) || string(g.Value) != string(w.Value) || len(g.Headers) != len(w.Headers) {
			t.Fatalf("record %d: got offset %d key %q value %q headers %v, want key %q value %q headers %v", i, g.Offset, g.Key, g.Value, g.Headers, w.Key, w.Value, w.Headers)
		}
		for j := range w.Headers {
			if g.Headers[j].Key != w.Headers[j].Key || string(g.Headers[j].Value) != string(w.Headers[j].Value) {
				t.Fatalf("record %d header %d: got %v, want %v", i, j, g.Headers[j], w.Headers[j])
			}
		}
		if g.Timestamp.UnixMilli() != w.Timestamp.UnixMilli() {
			t.Fatalf("record %d: timestamp %v, produced with %v", i, g.Timestamp, w.Timestamp)
		}
	}
}

// TestProduceConsumeAcksCodecs produces with keys and headers under every
// acks setting and codec, under both flush policies, then consumes from the
// beginning and compares, then reads everything back after a restart.
func TestProduceConsumeAcksCodecs(t *testing.T) {
	for _, policy := range []flush.Policy{flush.Durable, flush.Interval} {
		t.Run(fmt.Sprintf("policy=%v", policy), func(t *testing.T) {
			d := startDataBroker(t, func(c *Config) { c.FlushPolicy = policy })
			const n = 120
			type produced struct {
				topic string
				recs  []*kgo.Record
			}
			var all []produced
			for _, acks := range []struct {
				name string
				acks kgo.Acks
			}{{"0", kgo.NoAck()}, {"1", kgo.LeaderAck()}, {"all", kgo.AllISRAcks()}} {
				for _, c := range codecs {
					topic := fmt.Sprintf("acks-%s-%s", acks.name, c.name)
					d.createTopic(topic, 1, nil)
					opts := []kgo.Opt{kgo.RequiredAcks(acks.acks), kgo.ProducerBatchCompression(c.codec), kgo.ProducerLinger(0)}
					if acks.name != "all" {
						opts = append(opts, kgo.DisableIdempotentWrite())
					}
					cl := d.client(opts...)
					recs := testRecords(topic, n)
					if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
						t.Fatalf("%s: produce: %v", topic, err)
					}
					if acks.name == "0" {
						// Nothing acknowledges acks=0: wait for the data.
						if err := cl.Flush(context.Background()); err != nil {
							t.Fatal(err)
						}
					}
					sameRecords(t, consumeAll(t, d, topic, n), recs)
					all = append(all, produced{topic, recs})
				}
			}
			d.restart()
			for _, p := range all {
				sameRecords(t, consumeAll(t, d, p.topic, n), p.recs)
			}
		})
	}
}

// TestProduceAcksAllIsDurable: under the durable policy an acks=all produce
// is answered only once its records are flushed.
func TestProduceAcksAllIsDurable(t *testing.T) {
	d := startDataBroker(t, nil)
	d.createTopic("durable", 1, nil)
	cl := d.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	p, err := d.b.partition("durable", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		r, err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "durable", Value: []byte("v")}).First()
		if err != nil {
			t.Fatal(err)
		}
		if flushed := p.log.FlushedOffset(); flushed <= r.Offset {
			t.Fatalf("produce %d acknowledged offset %d, but only %d is flushed", i, r.Offset, flushed)
		}
	}
}

// produceRaw sends one partition's records in a ProduceRequest and returns
// that partition's response.
func produceRaw(t testing.TB, d *dataBroker, version int16, acks int16, topic string, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = acks
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rc := dialRaw(t, d.addr)
	rc.send(req, true)
	resp := rc.receive().(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("response has %d topics, want 1 with 1 partition", len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// ensureOffsetsTopic makes sure the internal topic __consumer_offsets
// exists (the group coordinator creates it at startup when it runs).
func ensureOffsetsTopic(t testing.TB, d *dataBroker) {
	t.Helper()
	if d.b.topic("__consumer_offsets") != nil {
		return
	}
	if err := d.b.createTopic("__consumer_offsets", 1, 1, nil); err != nil {
		t.Fatal(err)
	}
}

func TestProduceErrors(t *testing.T) {
	d := startDataBroker(t, nil)
	ensureOffsetsTopic(t, d)
	d.createTopic("small", 1, map[string]*string{"max.message.bytes": kadm.StringPtr("2000")})
	good := func() []byte { return segmenttest.Batch(segmenttest.Values("a", "b", "c")) }
	corrupt := good()
	corrupt[len(corrupt)-1] ^= 0xFF
	oldMagic := good()
	oldMagic[16] = 1
	big := segmenttest.Batch([]segmenttest.Record{{Value: make([]byte, 3000)}})
	truncated := good()
	truncated = truncated[:len(truncated)-3]
	for _, tc := range []struct {
		name    string
		topic   string
		acks    int16
		records []byte
		want    *kerr.Error
	}{
		{"corrupt CRC", "small", -1, corrupt, kerr.CorruptMessage},
		{"too large", "small", -1, big, kerr.MessageTooLarge},
		{"unknown topic", "nope", -1, good(), kerr.UnknownTopicOrPartition},
		{"old magic", "small", 1, oldMagic, kerr.UnsupportedForMessageFormat},
		{"two batches", "small", 1, append(good(), good()...), kerr.InvalidRecord},
		{"truncated", "small", 1, truncated, kerr.InvalidRecord},
		{"empty", "small", 1, nil, kerr.InvalidRecord},
		{"control batch", "small", 1, segmenttest.Batch(segmenttest.Values("x"), segmenttest.Attributes(0x20)), kerr.InvalidRecord},
		{"transactional", "small", 1, segmenttest.Batch(segmenttest.Values("x"), segmenttest.Producer(1, 0, 0), segmenttest.Attributes(0x10)), kerr.TransactionalIDAuthorizationFailed},
		{"bad acks", "small", 2, good(), kerr.InvalidRequiredAcks},
		{"internal topic", "__consumer_offsets", -1, good(), kerr.InvalidTopicException},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := produceRaw(t, d, 9, tc.acks, tc.topic, tc.records)
			if err := kerr.ErrorForCode(got.ErrorCode); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if got.BaseOffset != -1 {
				t.Fatalf("base offset %d for a refused batch", got.BaseOffset)
			}
		})
	}
	// Nothing refused was stored, and the partition still takes good data.
	got := produceRaw(t, d, 9, -1, "small", good())
	if got.ErrorCode != 0 || got.BaseOffset != 0 {
		t.Fatalf("good batch after refused ones: error %d base offset %d, want 0 and 0", got.ErrorCode, got.BaseOffset)
	}
}

// TestProduceIdempotent: a retried batch is answered with its original
// offsets and stored once; a gap in the sequence and an old epoch are refused.
func TestProduceIdempotent(t *testing.T) {
	d := startDataBroker(t, nil)
	d.createTopic("idem", 1, nil)
	cl := d.client()
	init := roundTrip[*kmsg.InitProducerIDResponse](t, cl, kmsg.NewPtrInitProducerIDRequest())
	if init.ErrorCode != 0 {
		t.Fatalf("InitProducerId: error %d", init.ErrorCode)
	}
	pid, epoch := init.ProducerID, init.ProducerEpoch
	batch := func(seq int32, values ...string) []byte {
		return segmenttest.Batch(segmenttest.Values(values...), segmenttest.Producer(pid, epoch, seq))
	}
	first := produceRaw(t, d, 9, -1, "idem", batch(0, "a", "b"))
	second := produceRaw(t, d, 9, -1, "idem", batch(2, "c"))
	if first.ErrorCode != 0 || second.ErrorCode != 0 || first.BaseOffset != 0 || second.BaseOffset != 2 {
		t.Fatalf("first produce: error %d offset %d; second: error %d offset %d", first.ErrorCode, first.BaseOffset, second.ErrorCode, second.BaseOffset)
	}
	for _, retry := range []struct {
		seq    int32
		values []string
		offset int64
	}{{0, []string{"a", "b"}, 0}, {2, []string{"c"}, 2}} {
		got := produceRaw(t, d, 9, -1, "idem", batch(retry.seq, retry.values...))
		if got.ErrorCode != 0 || got.BaseOffset != retry.offset {
			t.Fatalf("retry of sequence %d: error %d offset %d, want the original offset %d", retry.seq, got.ErrorCode, got.BaseOffset, retry.offset)
		}
	}
	if got := produceRaw(t, d, 9, -1, "idem", batch(5, "gap")); got.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: error %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", got.ErrorCode)
	}
	newer := segmenttest.Batch(segmenttest.Values("d"), segmenttest.Producer(pid, epoch+1, 0))
	if got := produceRaw(t, d, 9, -1, "idem", newer); got.ErrorCode != 0 || got.BaseOffset != 3 {
		t.Fatalf("new epoch: error %d offset %d, want offset 3", got.ErrorCode, got.BaseOffset)
	}
	if got := produceRaw(t, d, 9, -1, "idem", batch(3, "fenced")); got.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("old epoch: error %d, want INVALID_PRODUCER_EPOCH", got.ErrorCode)
	}
	recs := consumeAll(t, d, "idem", 4)
	for i, want := range []string{"a", "b", "c", "d"} {
		if string(recs[i].Value) != want || recs[i].Offset != int64(i) {
			t.Fatalf("record %d: offset %d value %q, want %q: a retry was stored twice", i, recs[i].Offset, recs[i].Value, want)
		}
	}
}

// TestProduceIdempotentClient: franz-go's idempotent producer across a
// broker restart, many concurrent batches; every record lands exactly once.
func TestProduceIdempotentClient(t *testing.T) {
	d := startDataBroker(t, nil)
	d.createTopic("idem-client", 3, nil)
	const n = 3000
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "idem-client", Value: fmt.Appendf(nil, "%d", i)}
	}
	cl := d.client(kgo.MaxBufferedRecords(500))
	if err := cl.ProduceSync(context.Background(), recs[:n/2]...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	d.restart()
	cl = d.client()
	if err := cl.ProduceSync(context.Background(), recs[n/2:]...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range consumeAll(t, d, "idem-client", n) {
		seen[string(r.Value)]++
	}
	for i := range n {
		if c := seen[fmt.Sprint(i)]; c != 1 {
			t.Fatalf("record %d stored %d times", i, c)
		}
	}
}

// dropProxy forwards Kafka connections to a broker and, on each
// connection, cuts the connection instead of forwarding every dropEvery-th
// Produce response, so that the client must retry produce requests the
// broker has already carried out.
type dropProxy struct {
	dropEvery int
	dropped   atomic.Int64
}

func startDropProxy(t testing.TB, ln net.Listener, target string, dropEvery int) *dropProxy {
	p := &dropProxy{dropEvery: dropEvery}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			keys := make(chan int16, 1024) // api keys of the requests, in order
			go p.requests(client, server, keys)
			go p.responses(client, server, keys)
		}
	}()
	return p
}

// frame reads one size-prefixed frame.
func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, 4+binary.BigEndian.Uint32(size[:]))
	copy(frame, size[:])
	_, err := io.ReadFull(r, frame[4:])
	return frame, err
}

func (p *dropProxy) requests(client, server net.Conn, keys chan<- int16) {
	defer server.Close()
	defer close(keys)
	for {
		frame, err := readFrame(client)
		if err != nil || len(frame) < 6 {
			return
		}
		keys <- int16(binary.BigEndian.Uint16(frame[4:]))
		if _, err := server.Write(frame); err != nil {
			return
		}
	}
}

func (p *dropProxy) responses(client, server net.Conn, keys <-chan int16) {
	defer client.Close()
	defer server.Close()
	for produced := 0; ; {
		frame, err := readFrame(server)
		if err != nil {
			return
		}
		if <-keys == kmsg.Produce.Int16() {
			if produced++; produced%p.dropEvery == 0 {
				p.dropped.Add(1)
				return
			}
		}
		if _, err := client.Write(frame); err != nil {
			return
		}
	}
}

// TestProduceIdempotentRetries: franz-go's idempotent producer behind a
// proxy that cuts connections instead of delivering responses: the client
// retries batches the broker already stored, and every record is stored
// exactly once, in order.
func TestProduceIdempotentRetries(t *testing.T) {
	proxyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxyPort := proxyLn.Addr().(*net.TCPAddr).Port
	d := startDataBroker(t, func(c *Config) { c.AdvertisedPort = int32(proxyPort) })
	proxy := startDropProxy(t, proxyLn, d.addr, 3)
	d.createTopic("retried", 1, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(proxyLn.Addr().String()), kgo.DefaultProduceTopic("retried"),
		kgo.ProducerLinger(0), kgo.ProducerBatchMaxBytes(512), kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 400
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	errs := make(chan error, n)
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%d", i)}, func(_ *kgo.Record, err error) { errs <- err })
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	if proxy.dropped.Load() == 0 {
		t.Fatal("the proxy dropped no response: nothing was retried")
	}
	for i, r := range consumeAll(t, d, "retried", n) {
		if string(r.Value) != fmt.Sprint(i) {
			t.Fatalf("offset %d holds %q, want %d: a retried batch was stored twice or out of order", i, r.Value, i)
		}
	}
	if end := listOffsetsRaw(t, d, 7, "retried", listOffsetsLatest); end.Offset != n {
		t.Fatalf("log end %d, want %d: duplicates stored", end.Offset, n)
	}
	t.Logf("%d produce responses dropped", proxy.dropped.Load())
}

// TestProduceLogAppendTime: a topic with message.timestamp.type=LogAppendTime
// stamps the broker's clock on batches and reports it.
func TestProduceLogAppendTime(t *testing.T) {
	d := startDataBroker(t, nil)
	d.createTopic("lat", 1, map[string]*string{"message.timestamp.type": kadm.StringPtr("LogAppendTime")})
	before := time.Now().UnixMilli()
	got := produceRaw(t, d, 9, -1, "lat", segmenttest.Batch(segmenttest.Values("x", "y"), segmenttest.Timestamp(1000)))
	after := time.Now().UnixMilli()
	if got.ErrorCode != 0 || got.LogAppendTime < before || got.LogAppendTime > after {
		t.Fatalf("error %d, log append time %d, want between %d and %d", got.ErrorCode, got.LogAppendTime, before, after)
	}
	for _, r := range consumeAll(t, d, "lat", 2) {
		if r.Timestamp.UnixMilli() != got.LogAppendTime || r.Attrs.TimestampType() != 1 {
			t.Fatalf("record timestamp %v type %d, want %d type 1 (LogAppendTime)", r.Timestamp.UnixMilli(), r.Attrs.TimestampType(), got.LogAppendTime)
		}
	}
	// A CreateTime topic keeps the producer's timestamp.
	d.createTopic("ct", 1, nil)
	if got := produceRaw(t, d, 9, -1, "ct", segmenttest.Batch(segmenttest.Values("x"), segmenttest.Timestamp(1000))); got.LogAppendTime != -1 {
		t.Fatalf("CreateTime topic: log append time %d, want -1", got.LogAppendTime)
	}
	if r := consumeAll(t, d, "ct", 1)[0]; r.Timestamp.UnixMilli() != 1000 {
		t.Fatalf("CreateTime topic: timestamp %d, want 1000", r.Timestamp.UnixMilli())
	}
}

// rawConn is a plain TCP connection speaking Kafka framing, to pipeline
// requests exactly as a test wants.
type rawConn struct {
	t      testing.TB
	c      net.Conn
	nextID int32
	sent   []kmsg.Request // awaiting a response, in order
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, c: c}
}

// send writes a request; expectResponse false for acks=0 produces.
func (rc *rawConn) send(req kmsg.Request, expectResponse bool) {
	rc.t.Helper()
	rc.nextID++
	body := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw-test")).AppendRequest(nil, req, rc.nextID)
	if _, err := rc.c.Write(body); err != nil {
		rc.t.Fatal(err)
	}
	if expectResponse {
		rc.sent = append(rc.sent, req)
	}
}

// receive reads the response to the oldest request sent, checking that
// responses come in request order.
func (rc *rawConn) receive() kmsg.Response {
	rc.t.Helper()
	req := rc.sent[0]
	rc.sent = rc.sent[1:]
	var size [4]byte
	if _, err := io.ReadFull(rc.c, size[:]); err != nil {
		rc.t.Fatal(err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(rc.c, buf); err != nil {
		rc.t.Fatal(err)
	}
	resp := req.ResponseKind()
	body := buf[4:]
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		body = body[1:] // empty header tagged fields
	}
	if err := resp.ReadFrom(body); err != nil {
		rc.t.Fatalf("decoding %s response: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// TestProducePipelined: a connection keeps reading and appending while
// acks=all produces wait for their fsync, and answers in request order;
// an acks=0 produce in between gets no response.
func TestProducePipelined(t *testing.T) {
	const gap = 100 * time.Millisecond
	d := startDataBroker(t, func(c *Config) { c.FlushMinInterval = gap })
	d.createTopic("pipe", 1, nil)
	rc := dialRaw(t, d.addr)
	produce := func(acks int16, value string) *kmsg.ProduceRequest {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 9, acks, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "pipe"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = segmenttest.Batch(segmenttest.Values(value))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return req
	}
	const n = 20
	start := time.Now()
	for i := range n {
		rc.send(produce(-1, fmt.Sprint(i)), true)
		if i == n/2 {
			rc.send(produce(0, "acks=0"), false)
		}
	}
	apiVersions := kmsg.NewPtrApiVersionsRequest()
	apiVersions.Version = 3
	rc.send(apiVersions, true)
	for i := range n {
		resp := rc.receive().(*kmsg.ProduceResponse)
		p := resp.Topics[0].Partitions[0]
		want := int64(i)
		if i > n/2 {
			want++ // the acks=0 record
		}
		if p.ErrorCode != 0 || p.BaseOffset != want {
			t.Fatalf("response %d: error %d offset %d, want offset %d", i, p.ErrorCode, p.BaseOffset, want)
		}
	}
	if _, ok := rc.receive().(*kmsg.ApiVersionsResponse); !ok {
		t.Fatal("the last response is not ApiVersions'")
	}
	// With at most one fsync per 100 ms, answering one produce at a time
	// would take n*100 ms; group commit over the pipelined requests needs
	// a few syncs.
	if el := time.Since(start); el > n*gap/3 {
		t.Fatalf("%d pipelined acks=all produces took %v", n, el)
	}
}

// TestProduceAcksZeroErrorCloses: an acks=0 produce that fails closes the
// connection, after the responses to the requests before it, as Kafka does.
func TestProduceAcksZeroErrorCloses(t *testing.T) {
	d := startDataBroker(t, nil)
	d.createTopic("z", 1, nil)
	rc := dialRaw(t, d.addr)
	produce := func(acks int16, topic string) *kmsg.ProduceRequest {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 9, acks, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = segmenttest.Batch(segmenttest.Values("v"))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return req
	}
	rc.send(produce(0, "z"), false)
	rc.send(produce(-1, "z"), true)
	rc.send(produce(0, "missing"), false)
	if p := rc.receive().(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 1 {
		t.Fatalf("acks=all produce after a good acks=0 one: error %d offset %d", p.ErrorCode, p.BaseOffset)
	}
	rc.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := rc.c.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
		t.Fatalf("read %d bytes (%v) after a failed acks=0 produce; want the connection closed", n, err)
	}
}

// TestProduceDeletedWhileWaiting: an acks=all produce waiting for its fsync
// when its topic is deleted is answered UNKNOWN_TOPIC_OR_PARTITION at once.
func TestProduceDeletedWhileWaiting(t *testing.T) {
	const gap = 3 * time.Second
	d := startDataBroker(t, func(c *Config) { c.FlushMinInterval = gap })
	d.createTopic("doomed", 1, nil)
	if got := produceRaw(t, d, 9, -1, "doomed", segmenttest.Batch(segmenttest.Values("synced at once"))); got.ErrorCode != 0 {
		t.Fatalf("first produce: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "doomed"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = segmenttest.Batch(segmenttest.Values("waits for the gap"))
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rc := dialRaw(t, d.addr)
	start := time.Now()
	rc.send(req, true)
	p, err := d.b.partition("doomed", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Appended, so waiting for the sync FlushMinInterval holds back.
	wait.Until(t, 5*time.Second, "the produce to append", func() bool { return p.log.EndOffset() == 2 })
	if _, err := d.admin().DeleteTopics(context.Background(), "doomed"); err != nil {
		t.Fatal(err)
	}
	resp := rc.receive().(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	if resp.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("produce waiting when its topic was deleted: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if el := time.Since(start); el > gap*2/3 {
		t.Fatalf("answered after %v: the deletion did not release the wait", el)
	}
}

// TestLargeProduceRequestsPipelined writes several multi-MiB produce
// requests to one connection in a single write (the epoll transport
// appends these off its event loop, holding the connection's next requests
// meanwhile) and checks that every record lands in its partition in
// request order.
func TestLargeProduceRequestsPipelined(t *testing.T) {
	d := startDataBroker(t, nil)
	const topic, partitions, requests, perBatch = "large", 3, 4, 500
	d.createTopic(topic, partitions, nil)
	var wire []byte
	for req := range requests {
		pr := kmsg.NewPtrProduceRequest()
		pr.SetVersion(7) // topics by name, header v1
		pr.Acks, pr.TimeoutMillis = -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		for p := range partitions {
			kvs := make([]segment.KeyValue, perBatch)
			for i := range kvs {
				kvs[i].Value = make([]byte, 1024)
				copy(kvs[i].Value, fmt.Sprintf("req %d partition %d record %d", req, p, i))
			}
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = int32(p), segment.BuildBatch(nil, time.Now().UnixMilli(), kvs)
			rt.Partitions = append(rt.Partitions, rp)
		}
		pr.Topics = append(pr.Topics, rt)
		start := len(wire)
		wire = binary.BigEndian.AppendUint32(wire, 0) // size, set below
		wire = binary.BigEndian.AppendUint16(wire, uint16(kmsg.Produce))
		wire = binary.BigEndian.AppendUint16(wire, 7)
		wire = binary.BigEndian.AppendUint32(wire, uint32(req))
		wire = binary.BigEndian.AppendUint16(wire, 0xffff) // null client id
		wire = pr.AppendTo(wire)
		size := len(wire) - start - 4
		if size <= 1<<20 {
			t.Fatalf("request of %d bytes; the test wants more than 1 MiB", size)
		}
		binary.BigEndian.PutUint32(wire[start:], uint32(size))
	}
	nc, err := net.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(15 * time.Second))
	go nc.Write(wire)
	for req := range requests {
		var hdr [8]byte
		if _, err := io.ReadFull(nc, hdr[:]); err != nil {
			t.Fatalf("response %d: %v", req, err)
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[:])-4)
		if _, err := io.ReadFull(nc, body); err != nil {
			t.Fatalf("response %d: %v", req, err)
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.SetVersion(7)
		if corr := int32(binary.BigEndian.Uint32(hdr[4:])); corr != int32(req) {
			t.Fatalf("response %d has correlation id %d", req, corr)
		}
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("response %d: %v", req, err)
		}
		for _, p := range resp.Topics[0].Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				t.Fatalf("response %d, partition %d: %v", req, p.Partition, err)
			}
		}
	}
	got := consumeAll(t, d, topic, partitions*requests*perBatch)
	next := make(map[int32]int) // partition: index of its next record
	for _, r := range got {
		i := next[r.Partition]
		next[r.Partition]++
		var req, p, idx int
		if _, err := fmt.Sscanf(string(r.Value), "req %d partition %d record %d", &req, &p, &idx); err != nil ||
			int32(p) != r.Partition || r.Offset != int64(i) || req != i/perBatch || idx != i%perBatch {
			t.Fatalf("partition %d offset %d (record %d of the partition) holds %.40q", r.Partition, r.Offset, i, r.Value)
		}
	}
}

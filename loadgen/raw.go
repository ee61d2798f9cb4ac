package loadgen

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawProduceVersion is the Produce version raw connections send: the last
// before flexible versions, served by Runnel, kfake and the sink alike, so
// that a request's record batch is its last bytes.
const rawProduceVersion = 7

// Offsets into a RecordBatch v2 (see KAFKA-FACTS or segment/doc.go).
const (
	batchCRCAt      = 17
	batchCRCFrom    = 21
	batchSequenceAt = 53
	batchHeaderSize = 61
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// rawConn is one connection of raw mode: it sends Produce requests built
// once, each one RecordBatch of BatchRecords records for the next
// partition in turn, with up to InFlight requests pipelined, and reads the
// answers in order on a goroutine of its own. Only the correlation id
// (and, for an idempotent producer, the batch's base sequence and its
// CRC-32C) change from one request to the next. Every partition's request
// ends with the same batch, so the connection holds the batch once and a
// head per partition, and writes the two with one writev: a batch of 1 MB
// to 1,000 partitions in turn costs 1 MB, not 1 GB.
type rawConn struct {
	run  *run
	conn net.Conn
	producerStats

	heads      [][]byte // per partition: its request up to the batch, size prefix included
	batch      []byte   // the record batch that ends every request
	partitions []int32
	sequences  []int32    // per partition: the next base sequence (idempotent)
	crc        *suffixCRC // idempotent: the batch's CRC from its header
	records    int64      // per request
	valueBytes int64      // record value bytes per request
	idempotent bool

	slots    chan struct{}    // a token per request that may be in flight
	pending  chan rawInFlight // requests sent, in order, for the reader
	corr     int32
	readDone chan struct{} // closed when the reader has stopped

	// The sender's time (RawTimings), in ns, set when it returns.
	requests, senderNanos, slotWaitNanos, writeNanos atomic.Int64
}

// rawInFlight is one request the reader is waiting for.
type rawInFlight struct {
	corr     int32
	intended time.Time
}

// rawBatch encodes one RecordBatch v2 of n records of the run's payload:
// no key, no headers, one timestamp. The producer id, epoch and base
// sequence are set per connection and per request.
func (r *run) rawBatch(n int) []byte {
	ts := time.Now().UnixMilli()
	var records []byte
	for i := range n {
		rec := kmsg.Record{OffsetDelta: int32(i), Value: make([]byte, r.cfg.RecordSize)}
		copy(rec.Value[8:], r.payload)
		rec.Length = int32(len(rec.AppendTo(nil)) - 1) // the length varint of 0 is one byte
		records = rec.AppendTo(records)
	}
	batch := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(n - 1),
		FirstTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(n), Records: records,
	}
	b := batch.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	return b
}

// newRawConn dials the first bootstrap broker (raw mode is for one broker
// that leads every partition) and builds a request for each of
// partitions. An idempotent connection gets a producer id of its own.
func (r *run) newRawConn(ctx context.Context, admin *kgo.Client, partitions []int32) (*rawConn, error) {
	c := &rawConn{
		run: r, producerStats: newProducerStats(), partitions: partitions,
		records: int64(r.cfg.BatchRecords), valueBytes: int64(r.cfg.BatchRecords * r.cfg.RecordSize),
		idempotent: r.cfg.Idempotent, sequences: make([]int32, len(partitions)),
		slots: make(chan struct{}, r.cfg.InFlight), pending: make(chan rawInFlight, r.cfg.InFlight),
		readDone: make(chan struct{}),
	}
	batch := r.rawBatch(r.cfg.BatchRecords)
	c.batch = batch
	if c.idempotent {
		resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, admin)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err != nil {
			return nil, fmt.Errorf("loadgen: raw: producer id: %w", err)
		}
		binary.BigEndian.PutUint64(batch[43:], uint64(resp.ProducerID))
		binary.BigEndian.PutUint16(batch[51:], uint16(resp.ProducerEpoch))
		c.crc = newSuffixCRC(batch[batchHeaderSize:])
	}
	binary.BigEndian.PutUint32(batch[batchCRCAt:], crc32.Checksum(batch[batchCRCFrom:], castagnoli))
	acks := int16(1)
	if r.cfg.Acks == "all" || r.cfg.Acks == "-1" {
		acks = -1
	}
	format := kmsg.NewRequestFormatter(kmsg.FormatterClientID("runnel-loadgen-raw"))
	for _, p := range partitions {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = rawProduceVersion, acks, 30000
		req.Topics = []kmsg.ProduceRequestTopic{{Topic: r.cfg.Topic, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: p, Records: batch}}}}
		whole := format.AppendRequest(nil, req, 0)
		c.heads = append(c.heads, whole[:len(whole)-len(batch)])
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.cfg.Brokers[0])
	if err != nil {
		return nil, fmt.Errorf("loadgen: raw: %w", err)
	}
	c.conn = conn
	for range r.cfg.InFlight {
		c.slots <- struct{}{}
	}
	go c.read()
	return c, nil
}

// send writes requests until stop is set: as fast as the window of
// InFlight requests allows (rate 0), or open loop at rate records/s, a
// request (BatchRecords records) due every BatchRecords/rate seconds.
func (c *rawConn) send(stop *atomic.Bool, rate float64) {
	defer close(c.pending)
	var requests int64
	var slotWait, writing time.Duration
	began := time.Now()
	defer func() {
		c.requests.Store(requests)
		c.senderNanos.Store(int64(time.Since(began)))
		c.slotWaitNanos.Store(int64(slotWait))
		c.writeNanos.Store(int64(writing))
	}()
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(c.records) / rate)
		defer PreciseThread()()
	}
	start := time.Now()
	for i := 0; !stop.Load(); i++ {
		intended := time.Now()
		if interval > 0 {
			intended = start.Add(time.Duration(i) * interval)
			if wait := time.Until(intended); wait > 100*time.Millisecond {
				time.Sleep(100 * time.Millisecond)
				i--
				continue
			} else if wait > 0 {
				SleepUntil(intended)
			}
		}
		waitFrom := time.Now()
		select {
		case <-c.slots:
		case <-c.readDone:
			return
		}
		got := time.Now()
		slotWait += got.Sub(waitFrom)
		if interval == 0 {
			intended = got // closed loop: from when the window had room
		}
		k := i % len(c.heads)
		head := c.heads[k]
		c.corr++
		binary.BigEndian.PutUint32(head[8:], uint32(c.corr))
		if c.idempotent {
			// The previous request's bytes are in the socket already:
			// Write returns once it has copied them all.
			binary.BigEndian.PutUint32(c.batch[batchSequenceAt:], uint32(c.sequences[k]))
			binary.BigEndian.PutUint32(c.batch[batchCRCAt:], c.crc.checksum(c.batch[batchCRCFrom:batchHeaderSize]))
			c.sequences[k] += int32(c.records)
		}
		if interval > 0 {
			c.sendDelay.Record(time.Since(intended), intended)
		}
		c.sent.Add(c.records)
		c.pending <- rawInFlight{corr: c.corr, intended: intended}
		req := net.Buffers{head, c.batch}
		writeFrom := time.Now()
		_, err := req.WriteTo(c.conn)
		writing += time.Since(writeFrom)
		requests++
		if err != nil {
			c.run.noteError("raw produce: " + err.Error())
			return
		}
	}
}

// read answers the requests in order: each Produce response's partitions
// are checked for errors, and the request's records counted as acked with
// the latency from their intended send time.
func (c *rawConn) read() {
	defer close(c.readDone)
	r := bufio.NewReaderSize(c.conn, 64<<10)
	var size [4]byte
	var body []byte
	for {
		if _, err := io.ReadFull(r, size[:]); err != nil {
			c.readFailed(err)
			return
		}
		n := binary.BigEndian.Uint32(size[:])
		if n < 4 || n > 64<<20 {
			c.readFailed(fmt.Errorf("loadgen: raw: response of %d bytes", n))
			return
		}
		if cap(body) < int(n) {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			c.readFailed(err)
			return
		}
		now := time.Now()
		sent, ok := <-c.pending
		if !ok {
			c.readFailed(errors.New("loadgen: raw: a response to no request"))
			return
		}
		if corr := int32(binary.BigEndian.Uint32(body)); corr != sent.corr {
			c.readFailed(fmt.Errorf("loadgen: raw: response %d to request %d", corr, sent.corr))
			return
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = rawProduceVersion
		err := resp.ReadFrom(body[4:])
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err == nil {
					err = kerr.ErrorForCode(p.ErrorCode)
				}
			}
		}
		if err != nil {
			c.errors.Add(c.records)
			c.run.noteError("raw produce: " + err.Error())
		} else {
			c.latency.RecordN(now.Sub(sent.intended), sent.intended, c.records)
			c.acked.Add(c.records)
			c.bytes.Add(c.valueBytes)
		}
		c.slots <- struct{}{}
	}
}

// timings are the sender's, once it has returned.
func (c *rawConn) timings() *RawTimings {
	return &RawTimings{Requests: c.requests.Load(), SenderSeconds: time.Duration(c.senderNanos.Load()).Seconds(),
		SlotWaitSeconds: time.Duration(c.slotWaitNanos.Load()).Seconds(), WriteSeconds: time.Duration(c.writeNanos.Load()).Seconds()}
}

// drain waits until every request sent has its answer, up to limit, then
// closes the connection.
func (c *rawConn) drain(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for len(c.slots) < cap(c.slots) && time.Now().Before(deadline) {
		select {
		case <-c.readDone:
			deadline = time.Now()
		case <-time.After(time.Millisecond):
		}
	}
	if len(c.slots) < cap(c.slots) {
		c.run.noteError(fmt.Sprintf("raw produce: %d requests unanswered after the drain", cap(c.slots)-len(c.slots)))
	}
	c.conn.Close()
}

// readFailed notes why the reader stopped, unless drain closed the
// connection.
func (c *rawConn) readFailed(err error) {
	if !errors.Is(err, net.ErrClosed) {
		c.run.noteError("raw produce: read: " + err.Error())
	}
}

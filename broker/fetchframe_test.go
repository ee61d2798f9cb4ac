package broker

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/io/sendfile"
	"runnel/segment"
)

// frameTestPartition is one partition of a golden test response: its
// header and the slice of the records file it carries.
type frameTestPartition struct {
	h        fetchPartitionHeader
	pos, len int64
}

type frameTestTopic struct {
	name  string
	id    [16]byte
	parts []frameTestPartition
}

// recordBatchBytes returns n encoded record batches of a few records each,
// back to back, as a producer would send them.
func recordBatchBytes(t testing.TB, n int) []byte {
	t.Helper()
	var out []byte
	for i := range n {
		var records []byte
		for j := range 3 {
			r := kmsg.Record{
				OffsetDelta: int32(j),
				Key:         fmt.Appendf(nil, "key-%d-%d", i, j),
				Value:       bytes.Repeat([]byte{byte('a' + j)}, 40+i),
			}
			r.Length = int32(len(r.AppendTo(nil)) - 1) // one-byte varint length
			records = r.AppendTo(records)
		}
		b := kmsg.RecordBatch{
			FirstOffset:     int64(i * 3),
			Magic:           2,
			LastOffsetDelta: 2,
			FirstTimestamp:  1700000000000,
			MaxTimestamp:    1700000000002,
			ProducerID:      -1,
			ProducerEpoch:   -1,
			FirstSequence:   -1,
			NumRecords:      3,
			Records:         records,
		}
		b.Length = int32(len(b.AppendTo(nil)) - 12)
		out = b.AppendTo(out)
	}
	return out
}

// writeRecordsFile writes data after some leading bytes that no range
// covers, so a frame that reads from the wrong offset is caught.
func writeRecordsFile(t testing.TB, data []byte) (*os.File, int64) {
	t.Helper()
	lead := bytes.Repeat([]byte{0xEE}, 100)
	path := filepath.Join(t.TempDir(), "00000000000000000000.log")
	if err := os.WriteFile(path, append(lead, data...), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, int64(len(lead))
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (server *net.TCPConn, client *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *net.TCPConn, 1)
	go func() {
		c, _ := ln.AcceptTCP()
		accepted <- c
	}()
	client, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func TestFetchFrameGolden(t *testing.T) {
	records := recordBatchBytes(t, 4)
	file, lead := writeRecordsFile(t, records)
	batch := int64(len(records) / 4) // all four batches have nearly the same size
	first, err := segment.ParseBatchHeader(records)
	if err != nil {
		t.Fatal(err)
	}
	firstLen := int64(first.Size())

	cases := map[string][]frameTestTopic{
		"no topics": nil,
		"one partition, all records": {{name: "t", id: [16]byte{1}, parts: []frameTestPartition{
			{h: fetchPartitionHeader{Partition: 0, HighWatermark: 12, LastStableOffset: 12, LogStartOffset: 0}, pos: lead, len: int64(len(records))},
		}}},
		"mixed": {
			{name: "orders", id: [16]byte{0xAB, 2, 3}, parts: []frameTestPartition{
				{h: fetchPartitionHeader{Partition: 3, HighWatermark: 12, LastStableOffset: 12, LogStartOffset: 3}, pos: lead, len: firstLen},
				{h: fetchPartitionHeader{Partition: 1, HighWatermark: 7, LastStableOffset: 7}},
				{h: fetchPartitionHeader{Partition: 0, ErrorCode: 1, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}},
				// A range cut short inside a batch, as max bytes may leave it.
				{h: fetchPartitionHeader{Partition: 2, HighWatermark: 99, LastStableOffset: 99, LogStartOffset: 1}, pos: lead + firstLen, len: batch + 10},
			}},
			{name: "empty-topic", id: [16]byte{9}},
			{name: "x", id: [16]byte{15: 7}, parts: []frameTestPartition{
				{h: fetchPartitionHeader{Partition: 0, ErrorCode: 3, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}},
				{h: fetchPartitionHeader{Partition: 5, HighWatermark: 1 << 40, LastStableOffset: 1 << 40, LogStartOffset: 1 << 39}, pos: lead, len: int64(len(records))},
			}},
		},
		// KIP-951: partitions led elsewhere (a leader, no leader but an
		// epoch, nothing known) beside one with records.
		"redirected": {{name: "moved", id: [16]byte{4}, parts: []frameTestPartition{
			{h: fetchPartitionHeader{Partition: 0, ErrorCode: 6, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1, Redirect: true, CurrentLeader: leaderHint{leader: 2, epoch: 5}}},
			{h: fetchPartitionHeader{Partition: 1, HighWatermark: 12, LastStableOffset: 12}, pos: lead, len: firstLen},
			{h: fetchPartitionHeader{Partition: 2, ErrorCode: 6, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1, Redirect: true, CurrentLeader: leaderHint{leader: -1, epoch: 3}}},
			{h: fetchPartitionHeader{Partition: 3, ErrorCode: 6, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1, Redirect: true, CurrentLeader: leaderHint{leader: -1, epoch: -1}}},
		}}},
		// KIP-320: a follower's diverging log (a replica fetch), beside
		// records, and with a redirect in the same tagged fields.
		"diverging": {{name: "replicated", id: [16]byte{5}, parts: []frameTestPartition{
			{h: fetchPartitionHeader{Partition: 0, HighWatermark: 40, LastStableOffset: 40, LogStartOffset: 2, Diverging: true, DivergingEpoch: 3, DivergingEndOffset: 37}},
			{h: fetchPartitionHeader{Partition: 1, HighWatermark: 12, LastStableOffset: 12}, pos: lead, len: firstLen},
			{h: fetchPartitionHeader{Partition: 2, ErrorCode: 6, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1, Diverging: true, DivergingEpoch: 1 << 30, DivergingEndOffset: 1 << 50, Redirect: true, CurrentLeader: leaderHint{leader: 1, epoch: 7}}},
		}}},
		// KIP-392: a consumer sent to another replica (from v11), beside
		// records.
		"preferred replica": {{name: "racked", id: [16]byte{6}, parts: []frameTestPartition{
			{h: fetchPartitionHeader{Partition: 0, HighWatermark: 40, LastStableOffset: 40, LogStartOffset: 2, Preferred: true, PreferredReadReplica: 2}},
			{h: fetchPartitionHeader{Partition: 1, HighWatermark: 12, LastStableOffset: 12}, pos: lead, len: firstLen},
			{h: fetchPartitionHeader{Partition: 2, HighWatermark: 40, LastStableOffset: 40, Preferred: true, PreferredReadReplica: 0}},
		}}},
	}
	// The NodeEndpoints of a case (v12+), a long host to take the field's
	// size past one uvarint byte.
	endpoints := map[string][]kmsg.FetchResponseBroker{
		"redirected": {
			{NodeID: 2, Host: "broker-2.example", Port: 9092, Rack: kmsg.StringPtr("rack-b")},
			{NodeID: 3, Host: strings.Repeat("h", 200), Port: 19092},
		},
	}
	for name, topics := range cases {
		for v := int16(fetchFrameMinVersion); v <= fetchFrameMaxVersion; v++ {
			t.Run(fmt.Sprintf("%s/v%d", name, v), func(t *testing.T) {
				want := expectedFetchResponse(v, topics, endpoints[name], records, lead)
				wantBody := want.AppendTo(nil)

				f := newFetchFrame()
				f.begin(v, want.ThrottleMillis, want.ErrorCode, want.SessionID, len(topics))
				for _, tp := range topics {
					f.beginTopic(tp.name, tp.id, len(tp.parts))
					for _, p := range tp.parts {
						f.partition(p.h, segment.FileRange{File: file, Position: p.pos, Size: p.len})
					}
				}
				f.nodeEndpoints(endpoints[name]...)
				if err := f.end(); err != nil {
					t.Fatal(err)
				}
				if f.size() != len(wantBody) {
					t.Fatalf("size() = %d, kmsg encodes %d bytes", f.size(), len(wantBody))
				}
				got := writeAndReadBack(t, f)
				f.release()
				if !bytes.Equal(got, wantBody) {
					t.Fatalf("framed body differs from kmsg's encoding\n got %x\nwant %x", got, wantBody)
				}
				decoded := kmsg.FetchResponse{Version: v}
				if err := decoded.ReadFrom(got); err != nil {
					t.Fatalf("kmsg cannot decode the frame: %v", err)
				}
				reference := kmsg.FetchResponse{Version: v}
				if err := reference.ReadFrom(wantBody); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(decoded, reference) {
					t.Fatalf("decoded frame\n%+v\nwant\n%+v", decoded, reference)
				}
				if !reflect.DeepEqual(stripUnused(decoded), stripUnused(*want)) {
					t.Fatalf("decoded frame does not carry the values it was built from\n%+v\nwant\n%+v", decoded, *want)
				}
			})
		}
	}
}

// expectedFetchResponse builds with kmsg the response the frame should
// produce.
func expectedFetchResponse(v int16, topics []frameTestTopic, endpoints []kmsg.FetchResponseBroker, records []byte, lead int64) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = v
	resp.ThrottleMillis = 17
	resp.SessionID = 0
	for _, tp := range topics {
		rt := kmsg.NewFetchResponseTopic()
		if v >= 13 {
			rt.TopicID = tp.id
		} else {
			rt.Topic = tp.name
		}
		for _, p := range tp.parts {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = p.h.Partition
			rp.ErrorCode = p.h.ErrorCode
			rp.HighWatermark = p.h.HighWatermark
			rp.LastStableOffset = p.h.LastStableOffset
			if v >= 5 {
				rp.LogStartOffset = p.h.LogStartOffset
			}
			rp.PreferredReadReplica = -1
			if p.h.Preferred && v >= 11 {
				rp.PreferredReadReplica = p.h.PreferredReadReplica
			}
			if p.h.Redirect && v >= 12 {
				rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = p.h.CurrentLeader.leader, p.h.CurrentLeader.epoch
			}
			if p.h.Diverging && v >= 12 {
				rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = p.h.DivergingEpoch, p.h.DivergingEndOffset
			}
			rp.RecordBatches = []byte{} // Kafka sends empty records, not null
			if p.len > 0 {
				rp.RecordBatches = records[p.pos-lead : p.pos-lead+p.len]
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if v >= 12 {
		resp.Brokers = endpoints
	}
	return resp
}

// stripUnused normalizes what decoding cannot preserve (nil against empty
// slices) so that a decoded response compares with the one built.
func stripUnused(r kmsg.FetchResponse) kmsg.FetchResponse {
	topics := make([]kmsg.FetchResponseTopic, len(r.Topics))
	copy(topics, r.Topics)
	for i := range topics {
		parts := make([]kmsg.FetchResponseTopicPartition, len(topics[i].Partitions))
		copy(parts, topics[i].Partitions)
		for j := range parts {
			if len(parts[j].RecordBatches) == 0 {
				parts[j].RecordBatches = nil
			}
		}
		if len(parts) == 0 {
			parts = nil
		}
		topics[i].Partitions = parts
	}
	if len(topics) == 0 {
		topics = nil
	}
	r.Topics = topics
	return r
}

// socketWriter is a pieceWriter straight onto a TCP socket, as the
// connection's writer does it: bytes with write, file ranges with sendfile.
type socketWriter struct{ conn *net.TCPConn }

func (w socketWriter) writeBytes(b []byte) error {
	_, err := w.conn.Write(b)
	return err
}

func (w socketWriter) writeFile(f *os.File, off, n int64) error {
	written, err := sendfile.Send(w.conn, f, off, n)
	if err == nil && written != n {
		err = fmt.Errorf("sendfile wrote %d of %d bytes", written, n)
	}
	return err
}

// writeAndReadBack writes f over loopback TCP after a 4-byte size and a
// correlation id, as a connection's writer does, and returns the body read.
func writeAndReadBack(t testing.TB, f *fetchFrame) []byte {
	t.Helper()
	server, client := tcpPair(t)
	w := socketWriter{server}
	errc := make(chan error, 1)
	go func() {
		head := binary.BigEndian.AppendUint32(nil, uint32(4+f.size()))
		head = binary.BigEndian.AppendUint32(head, 0xC0FFEE)
		if err := w.writeBytes(head); err != nil {
			errc <- err
			return
		}
		errc <- f.writeTo(w)
	}()
	var sizeAndID [8]byte
	if _, err := io.ReadFull(client, sizeAndID[:]); err != nil {
		t.Fatal(err)
	}
	if id := binary.BigEndian.Uint32(sizeAndID[4:]); id != 0xC0FFEE {
		t.Fatalf("correlation id %x", id)
	}
	got := make([]byte, binary.BigEndian.Uint32(sizeAndID[:4])-4)
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return got
}

func TestFetchFrameCountsChecked(t *testing.T) {
	for name, build := range map[string]func(f *fetchFrame){
		"too few topics": func(f *fetchFrame) {
			f.begin(12, 0, 0, 0, 2)
			f.beginTopic("a", [16]byte{}, 0)
		},
		"too many partitions": func(f *fetchFrame) {
			f.begin(12, 0, 0, 0, 1)
			f.beginTopic("a", [16]byte{}, 0)
			f.partition(fetchPartitionHeader{}, segment.FileRange{})
		},
		"partition outside a topic": func(f *fetchFrame) {
			f.begin(4, 0, 0, 0, 0)
			f.partition(fetchPartitionHeader{}, segment.FileRange{})
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFetchFrame()
			build(f)
			if err := f.end(); err == nil {
				t.Fatal("end accepted a frame whose counts do not match")
			}
			f.release()
		})
	}
}

// TestFetchFrameShortFile: a range that runs past the end of its file
// (a bug, or a file cut under us) is an error, never a silently short frame.
func TestFetchFrameShortFile(t *testing.T) {
	records := recordBatchBytes(t, 1)
	file, lead := writeRecordsFile(t, records)
	server, client := tcpPair(t)
	go io.Copy(io.Discard, client)
	f := newFetchFrame()
	defer f.release()
	f.begin(16, 0, 0, 0, 1)
	f.beginTopic("t", [16]byte{}, 1)
	f.partition(fetchPartitionHeader{}, segment.FileRange{File: file, Position: lead, Size: int64(len(records)) + 50})
	if err := f.end(); err != nil {
		t.Fatal(err)
	}
	if err := f.writeTo(socketWriter{server}); err == nil {
		t.Fatal("writeTo succeeded although the file is shorter than the range")
	}
}

// BenchmarkFetchFrameBuild measures encoding a response around its file
// ranges: 100 partitions, the size of a busy consumer's fetch.
func BenchmarkFetchFrameBuild(b *testing.B) {
	records := recordBatchBytes(b, 1)
	file, lead := writeRecordsFile(b, records)
	rng := segment.FileRange{File: file, Position: lead, Size: int64(len(records))}
	b.ReportAllocs()
	for b.Loop() {
		f := newFetchFrame()
		f.begin(16, 0, 0, 0, 10)
		for tp := range 10 {
			f.beginTopic("", [16]byte{byte(tp)}, 10)
			for p := range 10 {
				f.partition(fetchPartitionHeader{Partition: int32(p), HighWatermark: 1000, LastStableOffset: 1000}, rng)
			}
		}
		if err := f.end(); err != nil {
			b.Fatal(err)
		}
		f.release()
	}
}

// BenchmarkFetchFrameWrite measures framing and writing a response of
// size bytes of records over loopback, beside the raw baseline of one
// sendfile of the same bytes.
func BenchmarkFetchFrameWrite(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 10, 1 << 20} {
		data := bytes.Repeat([]byte{0x5A}, size)
		file, lead := writeRecordsFile(b, data)
		rng := segment.FileRange{File: file, Position: lead, Size: int64(size)}
		b.Run(fmt.Sprintf("size=%d/frame", size), func(b *testing.B) {
			server, client := tcpPair(b)
			go io.Copy(io.Discard, client)
			w := socketWriter{server}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				f := newFetchFrame()
				f.begin(16, 0, 0, 0, 1)
				f.beginTopic("", [16]byte{1}, 1)
				f.partition(fetchPartitionHeader{HighWatermark: 10, LastStableOffset: 10}, rng)
				if err := f.end(); err != nil {
					b.Fatal(err)
				}
				if err := f.writeTo(w); err != nil {
					b.Fatal(err)
				}
				f.release()
			}
		})
		b.Run(fmt.Sprintf("size=%d/raw-sendfile", size), func(b *testing.B) {
			server, client := tcpPair(b)
			go io.Copy(io.Discard, client)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sendfile.Send(server, rng.File, rng.Position, rng.Size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package bench

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Sink is a Kafka-protocol server that acks produce requests without
// storing anything: the load generator's ceiling. It serves ApiVersions,
// Metadata, CreateTopics, ListOffsets, InitProducerId and Produce (up to
// v12, topics by name), one goroutine per connection, so unlike kfake's
// single request loop it uses every core. Records are never validated
// beyond reading each batch's record count.
type Sink struct {
	ln   net.Listener
	host string
	port int32

	mu     sync.Mutex
	topics map[string]*sinkTopic
	nextID atomic.Int64 // producer ids
	wg     sync.WaitGroup
	// fetchAdvertised makes ApiVersions list Fetch v4 (NewLibrdkafkaSink).
	fetchAdvertised bool
}

type sinkTopic struct {
	id   [16]byte
	ends []atomic.Int64 // per partition: records acked so far
}

// sinkDefaultPartitions is the partition count of an auto-created topic.
const sinkDefaultPartitions = 8

// maxSinkFrame caps a request's size before allocating for it.
const maxSinkFrame = 100 << 20

// NewSink listens on addr ("127.0.0.1:0" for any port) and serves until
// Close.
func NewSink(addr string) (*Sink, error) { return newSink(addr, false) }

// NewLibrdkafkaSink is a Sink whose ApiVersions also lists Fetch v4,
// which it does not serve (a Fetch request closes the connection):
// librdkafka sends v2 record batches only to a broker that lists Produce
// v3 and Fetch v4 (its MsgVer2 feature), and to others v0 message sets,
// which the sink cannot count. For librdkafka's producers (kcat -P) only.
func NewLibrdkafkaSink(addr string) (*Sink, error) { return newSink(addr, true) }

func newSink(addr string, fetchAdvertised bool) (*Sink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	a := ln.Addr().(*net.TCPAddr)
	s := &Sink{ln: ln, host: a.IP.String(), port: int32(a.Port), topics: map[string]*sinkTopic{}, fetchAdvertised: fetchAdvertised}
	s.wg.Go(s.accept)
	return s, nil
}

// Addr is the host:port clients dial.
func (s *Sink) Addr() string { return net.JoinHostPort(s.host, strconv.Itoa(int(s.port))) }

// Close stops listening and waits for the connections to end.
func (s *Sink) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Sink) accept() {
	var conns sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	for {
		c, err := s.ln.Accept()
		if err != nil {
			break
		}
		mu.Lock()
		open[c] = true
		mu.Unlock()
		conns.Go(func() {
			s.serve(c)
			c.Close()
			mu.Lock()
			delete(open, c)
			mu.Unlock()
		})
	}
	mu.Lock()
	for c := range open {
		c.Close()
	}
	mu.Unlock()
	conns.Wait()
}

// serve answers one connection's requests in order.
func (s *Sink) serve(c net.Conn) {
	r := bufio.NewReaderSize(c, 1<<20)
	w := bufio.NewWriterSize(c, 64<<10)
	var size [4]byte
	var body, out []byte
	for {
		if _, err := io.ReadFull(r, size[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(size[:])
		if n < 8 || n > maxSinkFrame {
			return
		}
		if cap(body) < int(n) {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		resp, corr, err := s.handle(body)
		if err != nil {
			return
		}
		if resp == nil { // acks=0 produce
			continue
		}
		out = append(out[:0], 0, 0, 0, 0)
		out = binary.BigEndian.AppendUint32(out, uint32(corr))
		if resp.IsFlexible() && resp.Key() != int16(kmsg.ApiVersions) {
			out = append(out, 0) // response header v1: no tagged fields
		}
		out = resp.AppendTo(out)
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		if _, err := w.Write(out); err != nil {
			return
		}
		if r.Buffered() == 0 { // nothing pipelined behind: send now
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

var errSinkRequest = errors.New("bench: sink: bad request")

// handle decodes a request (header and body) and builds its response; nil
// for an acks=0 produce.
func (s *Sink) handle(b []byte) (kmsg.Response, int32, error) {
	key := int16(binary.BigEndian.Uint16(b))
	version := int16(binary.BigEndian.Uint16(b[2:]))
	corr := int32(binary.BigEndian.Uint32(b[4:]))
	b = b[8:]
	if len(b) < 2 {
		return nil, corr, errSinkRequest
	}
	if idLen := int16(binary.BigEndian.Uint16(b)); idLen > 0 { // client id
		if len(b) < 2+int(idLen) {
			return nil, corr, errSinkRequest
		}
		b = b[2+int(idLen):]
	} else {
		b = b[2:]
	}
	req := kmsg.RequestForKey(key)
	if req == nil || !sinkServes(key) || version > sinkMaxVersion(key) {
		if key == int16(kmsg.ApiVersions) {
			resp := s.apiVersions()
			resp.ErrorCode = kerr.UnsupportedVersion.Code
			return resp, corr, nil
		}
		return nil, corr, errSinkRequest
	}
	req.SetVersion(version)
	if req.IsFlexible() { // skip the request header's tagged fields
		var err error
		if b, err = skipTags(b); err != nil {
			return nil, corr, err
		}
	}
	if err := req.ReadFrom(b); err != nil {
		return nil, corr, err
	}
	switch req := req.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := s.apiVersions()
		resp.SetVersion(version)
		return resp, corr, nil
	case *kmsg.MetadataRequest:
		return s.metadata(req), corr, nil
	case *kmsg.CreateTopicsRequest:
		return s.createTopics(req), corr, nil
	case *kmsg.ListOffsetsRequest:
		return s.listOffsets(req), corr, nil
	case *kmsg.InitProducerIDRequest:
		resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ProducerID = s.nextID.Add(1)
		return resp, corr, nil
	case *kmsg.ProduceRequest:
		resp := s.produce(req)
		if req.Acks == 0 {
			return nil, corr, nil
		}
		return resp, corr, nil
	}
	return nil, corr, errSinkRequest
}

// sinkKeys are the APIs served and their highest version (Produce stops
// at v12, the last to name topics by string).
var sinkKeys = map[int16]int16{
	int16(kmsg.ApiVersions): 4, int16(kmsg.Metadata): 12, int16(kmsg.CreateTopics): 7,
	int16(kmsg.ListOffsets): 8, int16(kmsg.InitProducerID): 5, int16(kmsg.Produce): 12,
}

func sinkServes(key int16) bool      { _, ok := sinkKeys[key]; return ok }
func sinkMaxVersion(key int16) int16 { return sinkKeys[key] }

func (s *Sink) apiVersions() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	for key, maxVersion := range sinkKeys {
		resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: key, MaxVersion: min(maxVersion, kmsg.RequestForKey(key).MaxVersion())})
	}
	if s.fetchAdvertised {
		resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: int16(kmsg.Fetch), MinVersion: 4, MaxVersion: 4})
	}
	return resp
}

// topic returns a topic, creating it with partitions (or the default)
// when missing; created reports whether this call made it.
func (s *Sink) topic(name string, partitions int32) (t *sinkTopic, created bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.topics[name]; t != nil {
		return t, false
	}
	if partitions <= 0 {
		partitions = sinkDefaultPartitions
	}
	t = &sinkTopic{ends: make([]atomic.Int64, partitions)}
	_, _ = rand.Read(t.id[:])
	s.topics[name] = t
	return t, true
}

func (s *Sink) metadata(req *kmsg.MetadataRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: 0, Host: s.host, Port: s.port}}
	resp.ControllerID = 0
	var names []string
	if req.Topics == nil {
		s.mu.Lock()
		for name := range s.topics {
			names = append(names, name)
		}
		s.mu.Unlock()
	}
	for _, t := range req.Topics {
		if t.Topic != nil {
			names = append(names, *t.Topic)
		}
	}
	for _, name := range names {
		t, _ := s.topic(name, 0)
		rt := kmsg.MetadataResponseTopic{Topic: kmsg.StringPtr(name), TopicID: t.id}
		for p := range t.ends {
			rt.Partitions = append(rt.Partitions, kmsg.MetadataResponseTopicPartition{
				Partition: int32(p), Leader: 0, Replicas: []int32{0}, ISR: []int32{0},
			})
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (s *Sink) createTopics(req *kmsg.CreateTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	for _, rt := range req.Topics {
		t, created := s.topic(rt.Topic, rt.NumPartitions)
		out := kmsg.CreateTopicsResponseTopic{Topic: rt.Topic, TopicID: t.id, NumPartitions: int32(len(t.ends)), ReplicationFactor: 1}
		if !created {
			out.ErrorCode = kerr.TopicAlreadyExists.Code
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp
}

func (s *Sink) listOffsets(req *kmsg.ListOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		t, _ := s.topic(rt.Topic, 0)
		out := kmsg.ListOffsetsResponseTopic{Topic: rt.Topic}
		for _, rp := range rt.Partitions {
			p := kmsg.ListOffsetsResponseTopicPartition{Partition: rp.Partition, Timestamp: -1, LeaderEpoch: 0}
			switch {
			case rp.Partition < 0 || int(rp.Partition) >= len(t.ends):
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.Timestamp == -1: // latest
				p.Offset = t.ends[rp.Partition].Load()
			}
			out.Partitions = append(out.Partitions, p)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp
}

func (s *Sink) produce(req *kmsg.ProduceRequest) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		t, _ := s.topic(rt.Topic, 0)
		out := kmsg.ProduceResponseTopic{Topic: rt.Topic}
		for _, rp := range rt.Partitions {
			p := kmsg.ProduceResponseTopicPartition{Partition: rp.Partition, LogAppendTime: -1}
			if rp.Partition < 0 || int(rp.Partition) >= len(t.ends) {
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else if n, ok := countRecords(rp.Records); !ok {
				p.ErrorCode = kerr.CorruptMessage.Code
			} else {
				p.BaseOffset = t.ends[rp.Partition].Add(n) - n
			}
			out.Partitions = append(out.Partitions, p)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp
}

// countRecords sums the record counts of the v2 batches in b.
func countRecords(b []byte) (int64, bool) {
	var n int64
	for len(b) > 0 {
		if len(b) < 61 {
			return 0, false
		}
		size := 12 + int(int32(binary.BigEndian.Uint32(b[8:])))
		if size < 61 || size > len(b) {
			return 0, false
		}
		n += int64(int32(binary.BigEndian.Uint32(b[57:])))
		b = b[size:]
	}
	return n, true
}

// skipTags skips a tagged-field section.
func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errSinkRequest
	}
	b = b[n:]
	for range count {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, errSinkRequest
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < size {
			return nil, errSinkRequest
		}
		b = b[n+int(size):]
	}
	return b, nil
}

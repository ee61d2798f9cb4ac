package bench

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
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
// beyond reading each batch's header for its record count: the rest of
// their bytes is discarded unread (sinkread.go).
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

// serve answers one connection's requests in order. A Produce request is
// scanned as it arrives, its record bytes discarded unread (sinkread.go);
// any other is read whole and decoded by kmsg.
func (s *Sink) serve(c net.Conn) {
	r := newSinkReader(c)
	w := bufio.NewWriterSize(c, 64<<10)
	var body, out []byte
	for {
		b, err := r.next(12) // size, api key, version, correlation id
		if err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(b))
		key := int16(binary.BigEndian.Uint16(b[4:]))
		version := int16(binary.BigEndian.Uint16(b[6:]))
		corr := int32(binary.BigEndian.Uint32(b[8:]))
		if n < 8 || n > maxSinkFrame {
			return
		}
		r.ahead = sinkReadAhead(n)
		var resp kmsg.Response
		if key == int16(kmsg.Produce) && version <= sinkMaxVersion(key) {
			f := sinkFrame{src: r, left: n - 8}
			req, err := scanProduce(&f, version)
			if err == nil {
				err = f.skip(f.left) // bytes past the request's fields, as kmsg ignores them
			}
			if err != nil {
				return
			}
			if req.acks != 0 { // acks=0: no response
				resp = s.produce(&req, version)
			}
		} else {
			body = append(body[:0], b[4:]...)
			for rest := n - 8; rest > 0; {
				p, err := r.next(min(rest, sinkMaxNext))
				if err != nil {
					return
				}
				body = append(body, p...)
				rest -= len(p)
			}
			if resp, _, err = s.handle(body); err != nil {
				return
			}
		}
		if resp != nil {
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
		}
		if r.buffered() == 0 && w.Buffered() > 0 { // nothing pipelined behind: send now
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

var errSinkRequest = errors.New("bench: sink: bad request")

// handle decodes a request other than Produce (header and body) and
// builds its response.
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

// produce answers a scanned Produce request of version: each partition's
// base offset is its end before the request's records, as a broker's.
func (s *Sink) produce(req *sinkProduce, version int16) *kmsg.ProduceResponse {
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = version
	for _, rt := range req.topics {
		t, _ := s.topic(rt.name, 0)
		out := kmsg.ProduceResponseTopic{Topic: rt.name}
		for _, rp := range rt.partitions {
			p := kmsg.ProduceResponseTopicPartition{Partition: rp.partition, LogAppendTime: -1}
			switch {
			case rp.partition < 0 || int(rp.partition) >= len(t.ends):
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !rp.ok:
				p.ErrorCode = kerr.CorruptMessage.Code
			default:
				p.BaseOffset = t.ends[rp.partition].Add(rp.records) - rp.records
			}
			out.Partitions = append(out.Partitions, p)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp
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

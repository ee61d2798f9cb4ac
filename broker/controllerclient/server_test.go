package controllerclient

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/controller"
	"runnel/broker/metadata"
	"runnel/broker/quorum"
	"runnel/internal/wait"
	"runnel/segment"
)

var quiet = slog.New(slog.DiscardHandler)

// testServer is a minimal Kafka-protocol server for one controller, the
// stand-in for the broker's controller listener: it reads framed requests
// with kmsg, answers ApiVersions, and hands the controller APIs to the
// controller running now (none: the connection is closed, as by a dead
// process).
type testServer struct {
	ctl             func() *controller.Controller
	dropHeartbeats  *atomic.Int32 // a broker whose heartbeats are cut off (-1: none)
	snapshotFetches atomic.Int64

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// served are the APIs the test server answers.
var served = []kmsg.Request{new(kmsg.ApiVersionsRequest), new(kmsg.DescribeQuorumRequest), new(kmsg.FetchRequest),
	new(kmsg.FetchSnapshotRequest), new(kmsg.BrokerRegistrationRequest), new(kmsg.BrokerHeartbeatRequest), new(kmsg.CreateTopicsRequest)}

// listen starts serving on addr ("127.0.0.1:0" the first time).
func (s *testServer) listen(t testing.TB, addr string) string {
	t.Helper()
	var ln net.Listener
	var err error
	wait.Until(t, 10*time.Second, "listening on "+addr, func() bool {
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	s.mu.Lock()
	s.ln, s.conns = ln, map[net.Conn]struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[conn] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(conn)
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
			}()
		}
	}()
	return ln.Addr().String()
}

func (s *testServer) listening() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ln != nil
}

// close stops listening and cuts every connection.
func (s *testServer) close() {
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *testServer) serve(conn net.Conn) {
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := bufio.NewReader(conn)
	for {
		var size [4]byte
		if _, err := io.ReadFull(r, size[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(size[:])
		if n > 16<<20 {
			return
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		out, err := s.handle(ctx, body)
		if err != nil {
			return
		}
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}

// handle parses one request (header v1 or v2, then the kmsg body) and
// returns its framed response.
func (s *testServer) handle(ctx context.Context, b []byte) ([]byte, error) {
	if len(b) < 10 {
		return nil, errors.New("short request")
	}
	key, version := int16(binary.BigEndian.Uint16(b)), int16(binary.BigEndian.Uint16(b[2:]))
	correlation := binary.BigEndian.Uint32(b[4:])
	req := kmsg.RequestForKey(key)
	if req == nil {
		return nil, fmt.Errorf("unknown key %d", key)
	}
	req.SetVersion(version)
	rest := b[8:]
	if l := int16(binary.BigEndian.Uint16(rest)); l > 0 {
		rest = rest[min(len(rest), 2+int(l)):]
	} else {
		rest = rest[2:]
	}
	if req.IsFlexible() {
		rest = skipTags(rest)
	}
	if err := req.ReadFrom(rest); err != nil {
		return nil, err
	}
	ctl := s.ctl()
	if ctl == nil && key != kmsg.ApiVersions.Int16() {
		return nil, errors.New("no controller")
	}
	var resp kmsg.Response
	switch req := req.(type) {
	case *kmsg.ApiVersionsRequest:
		r := req.ResponseKind().(*kmsg.ApiVersionsResponse)
		for _, api := range served {
			k := kmsg.NewApiVersionsResponseApiKey()
			k.ApiKey, k.MaxVersion = api.Key(), api.MaxVersion()
			r.ApiKeys = append(r.ApiKeys, k)
		}
		resp = r
	case *kmsg.DescribeQuorumRequest:
		resp = ctl.DescribeQuorum(req)
	case *kmsg.FetchRequest:
		resp = ctl.FetchMetadata(ctx, req)
	case *kmsg.FetchSnapshotRequest:
		s.snapshotFetches.Add(1)
		resp = ctl.FetchSnapshot(req)
	case *kmsg.BrokerRegistrationRequest:
		resp = ctl.RegisterBroker(ctx, req)
	case *kmsg.BrokerHeartbeatRequest:
		if req.BrokerID == s.dropHeartbeats.Load() {
			return nil, errors.New("heartbeats cut off")
		}
		resp = ctl.BrokerHeartbeat(ctx, req)
	case *kmsg.CreateTopicsRequest:
		resp = ctl.CreateTopics(ctx, req)
	default:
		return nil, fmt.Errorf("key %d not served", key)
	}
	resp.SetVersion(version)
	out := make([]byte, 8, 256)
	binary.BigEndian.PutUint32(out[4:], correlation)
	if resp.IsFlexible() && key != kmsg.ApiVersions.Int16() {
		out = append(out, 0)
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out, nil
}

// skipTags skips a tagged-field section.
func skipTags(b []byte) []byte {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil
	}
	b = b[k:]
	for range n {
		_, k := binary.Uvarint(b)
		if k <= 0 {
			return nil
		}
		b = b[k:]
		size, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < size {
			return nil
		}
		b = b[k+int(size):]
	}
	return b
}

// testQuorum is three controllers on a quorum.LocalNetwork, each exposed
// over TCP by a testServer.
type testQuorum struct {
	t              testing.TB
	net            *quorum.LocalNetwork
	voters         []uint64
	dirs           map[uint64]string
	addrs          map[int32]string // by node id: Raft id - 1, as the broker numbers them
	snapshotEvery  uint64
	dropHeartbeats atomic.Int32

	mu      sync.Mutex
	ctls    map[uint64]*controller.Controller
	stores  map[uint64]*quorum.Storage
	servers map[uint64]*testServer
}

const sessionTimeout = time.Second

func newTestQuorum(t testing.TB, snapshotEvery uint64) *testQuorum {
	tq := &testQuorum{t: t, net: quorum.NewLocalNetwork(), voters: []uint64{1, 2, 3}, dirs: map[uint64]string{},
		addrs: map[int32]string{}, snapshotEvery: snapshotEvery, ctls: map[uint64]*controller.Controller{},
		stores: map[uint64]*quorum.Storage{}, servers: map[uint64]*testServer{}}
	tq.dropHeartbeats.Store(-1)
	for _, id := range tq.voters {
		tq.dirs[id] = filepath.Join(t.TempDir(), fmt.Sprint("controller", id))
		s := &testServer{ctl: func() *controller.Controller { return tq.controller(id) }, dropHeartbeats: &tq.dropHeartbeats}
		tq.servers[id] = s
		tq.addrs[int32(id)-1] = s.listen(t, "127.0.0.1:0")
		tq.start(id)
	}
	t.Cleanup(func() {
		for _, id := range tq.voters {
			tq.stop(id)
		}
	})
	return tq
}

func (tq *testQuorum) controller(id uint64) *controller.Controller {
	tq.mu.Lock()
	defer tq.mu.Unlock()
	return tq.ctls[id]
}

// start starts controller id from its directory and serves it.
func (tq *testQuorum) start(id uint64) {
	tq.t.Helper()
	seg := segment.DefaultConfig()
	seg.SegmentBytes, seg.PreallocateBytes = 64<<10, 4<<10
	s, err := quorum.Open(filepath.Join(tq.dirs[id], quorum.Partition.DirName()), quorum.Options{Segment: seg, Logger: quiet})
	if err != nil {
		tq.t.Fatal(err)
	}
	c, err := controller.New(controller.Config{
		Node: quorum.NodeConfig{ID: id, Voters: tq.voters, Storage: s, Transport: tq.net.Transport(id),
			TickInterval: 10 * time.Millisecond, ElectionTick: 20, HeartbeatTick: 2,
			SnapshotEvery: tq.snapshotEvery, CatchUpEntries: 2, Logger: quiet},
		ClusterID: "test-cluster", SessionTimeout: sessionTimeout, SessionCheckInterval: 20 * time.Millisecond, Logger: quiet,
	})
	if err != nil {
		tq.t.Fatal(err)
	}
	tq.net.Attach(c.Node())
	tq.mu.Lock()
	tq.ctls[id], tq.stores[id] = c, s
	tq.mu.Unlock()
	if srv := tq.servers[id]; !srv.listening() {
		srv.listen(tq.t, tq.addrs[int32(id)-1])
	}
}

// stop stops controller id as a killed process stops: its listener and
// connections go too.
func (tq *testQuorum) stop(id uint64) {
	tq.mu.Lock()
	c, s := tq.ctls[id], tq.stores[id]
	delete(tq.ctls, id)
	tq.mu.Unlock()
	tq.servers[id].close()
	if c == nil {
		return
	}
	tq.net.Detach(id)
	c.Close()
	s.Close()
}

// active waits for the active controller.
func (tq *testQuorum) active() *controller.Controller {
	tq.t.Helper()
	var a *controller.Controller
	wait.Until(tq.t, 10*time.Second, "an active controller", func() bool {
		for _, id := range tq.voters {
			if c := tq.controller(id); c != nil && c.Active() {
				a = c
				return true
			}
		}
		return false
	})
	return a
}

// image is the active controller's image.
func (tq *testQuorum) image() *metadata.Image { return tq.active().Image() }

func (tq *testQuorum) client() *Client {
	tq.t.Helper()
	c, err := New(Config{Voters: tq.addrs, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: quiet})
	if err != nil {
		tq.t.Fatal(err)
	}
	tq.t.Cleanup(c.Close)
	return c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// listener is a broker's one advertised listener.
func listener(id int32) []kmsg.BrokerRegistrationRequestListener {
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port = "PLAINTEXT", "127.0.0.1", uint16(9000+id)
	return []kmsg.BrokerRegistrationRequestListener{l}
}

// createTopic creates a topic through the client and fails the test on an
// error.
func createTopic(t testing.TB, c *Client, name string, partitions int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
	req.Topics = append(req.Topics, rt)
	resp, err := c.Request(testCtx(t), req)
	if err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
	if code := resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; code != 0 {
		t.Fatalf("creating %s: error %d", name, code)
	}
}

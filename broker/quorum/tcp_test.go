package quorum

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

const testClusterID = "tcp-test-cluster"

// tcpMember is a voter of a cluster over TCP: its listener can be closed and reopened.
type tcpMember struct {
	*member
	tr    *TCPTransport
	addr  string
	l     net.Listener
	serve chan error // Serve's result for l
}

func (m *tcpMember) listen(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", m.addr)
	if err != nil {
		t.Fatal(err)
	}
	m.l, m.serve = l, make(chan error, 1)
	go func() { m.serve <- m.tr.Serve(l) }()
}

// cut closes the member's listener: Serve returns and closes what it accepted.
func (m *tcpMember) cut(t *testing.T) {
	t.Helper()
	m.l.Close()
	select {
	case <-m.serve:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its listener closed")
	}
}

// newTCPCluster starts a voter for each id over TCP on 127.0.0.1, with cfg's limits, and
// returns the cluster (whose commit and leader helpers work as over the local network).
func newTCPCluster(t *testing.T, tune func(*TCPConfig), voters ...uint64) (*cluster, map[uint64]*tcpMember) {
	addrs := map[uint64]string{}
	listeners := map[uint64]net.Listener{}
	for _, id := range voters {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[id], listeners[id] = l.Addr().String(), l
	}
	c := &cluster{t: t, voters: voters, members: map[uint64]*member{}}
	tms := map[uint64]*tcpMember{}
	for _, id := range voters {
		cfg := TCPConfig{ID: id, ClusterID: testClusterID, Peers: addrs, BackoffMin: 5 * time.Millisecond,
			BackoffMax: 50 * time.Millisecond, IOTimeout: 2 * time.Second, Logger: quietLogger}
		if tune != nil {
			tune(&cfg)
		}
		tr, err := NewTCPTransport(cfg)
		if err != nil {
			t.Fatal(err)
		}
		m := &member{id: id, root: filepath.Join(t.TempDir(), fmt.Sprint("node", id)), sm: newRecorder()}
		if m.storage, err = Open(filepath.Join(m.root, Partition.DirName()), Options{Segment: smallSegments(), Logger: quietLogger}); err != nil {
			t.Fatal(err)
		}
		m.node, err = StartNode(NodeConfig{ID: id, Voters: voters, Storage: m.storage, Transport: tr, StateMachine: m.sm,
			TickInterval: 5 * time.Millisecond, ElectionTick: 20, HeartbeatTick: 2, SnapshotEvery: 40, CatchUpEntries: 10, Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		tr.Attach(m.node)
		tm := &tcpMember{member: m, tr: tr, addr: addrs[id], l: listeners[id], serve: make(chan error, 1)}
		go func() { tm.serve <- tr.Serve(tm.l) }()
		c.members[id], tms[id] = m, tm
	}
	t.Cleanup(func() {
		for _, tm := range tms {
			tm.tr.Close()
			tm.node.Stop()
			tm.storage.Close()
			tm.l.Close()
		}
	})
	return c, tms
}

// waitSame waits until m has applied exactly what want holds.
func waitSame(t *testing.T, m *member, want []applied) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		seq, changed := m.sm.sequence()
		if slices.Equal(seq, want) {
			return
		}
		select {
		case <-changed:
		case <-m.node.Done():
			t.Fatalf("node %d stopped: %v", m.id, m.node.Err())
		case <-timeout:
			t.Fatalf("node %d applied %d proposals, want %d", m.id, len(seq), len(want))
		}
	}
}

// TestTCPCluster runs three voters over real TCP: they elect a leader and commit 200
// proposals; a follower whose listener is closed falls behind by more than a snapshot, and
// after its listener is back it catches up (from the leader's snapshot) to the same sequence.
func TestTCPCluster(t *testing.T) {
	c, tms := newTCPCluster(t, nil, 1, 2, 3)
	for i := range 200 {
		c.commit(fmt.Sprintf("p-%03d", i))
	}
	leader := c.leader()
	want, _ := leader.sm.sequence()
	for _, m := range c.members {
		waitSame(t, m, want)
	}

	var follower *tcpMember
	for id, tm := range tms {
		if id != leader.id {
			follower = tm
			break
		}
	}
	follower.cut(t)
	before, _ := follower.sm.sequence()
	for i := 200; i < 300; i++ {
		c.commit(fmt.Sprintf("p-%03d", i))
	}
	if seq, _ := follower.sm.sequence(); len(seq) != len(before) {
		t.Fatalf("the cut follower applied %d proposals while cut, had %d", len(seq), len(before))
	}
	leaderFirst, _ := c.leader().storage.FirstIndex()
	followerLast, _ := follower.storage.LastIndex()
	if leaderFirst <= followerLast+1 {
		t.Fatalf("the leader's log starts at %d: the follower (at %d) needs no snapshot", leaderFirst, followerLast)
	}
	follower.listen(t)
	want, _ = c.leader().sm.sequence()
	waitSame(t, follower.member, want)
}

// dialRaw connects to addr and writes hello.
func dialRaw(t *testing.T, addr string, hello []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(hello); err != nil {
		t.Fatal(err)
	}
	return c
}

// rawPeer connects to addr with a good hello and returns the connection once it is answered
// by node want.
func rawPeer(t *testing.T, addr string, hello []byte, want uint64) net.Conn {
	t.Helper()
	c := dialRaw(t, addr, hello)
	id, cluster, err := readHello(c)
	if err != nil || id != want || cluster != testClusterID {
		t.Fatalf("hello answered with %d %q %v, want node %d of %q", id, cluster, err, want, testClusterID)
	}
	return c
}

// expectClosed checks that the other side closes c without writing anything, before c's
// deadline.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	var b [1]byte
	n, err := c.Read(b[:])
	if n != 0 || err == nil || isTimeout(err) {
		t.Fatalf("read %d bytes, %v: want the connection closed", n, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestTCPRefusesBadInput: a wrong magic, version, cluster id or sender, an oversized,
// undecodable or misaddressed frame each close the connection; the node keeps leading and
// committing through it all.
func TestTCPRefusesBadInput(t *testing.T) {
	const limit = 1 << 16
	c, tms := newTCPCluster(t, func(cfg *TCPConfig) {
		cfg.MaxFrameBytes = limit
		cfg.Peers = map[uint64]string{1: cfg.Peers[1], 2: "127.0.0.1:1"} // a peer that never answers
	}, 1)
	c.commit("before")
	addr := tms[1].addr

	good := appendHello(nil, 2, testClusterID)
	badVersion := slices.Clone(good)
	badVersion[5] = 9
	for name, hello := range map[string][]byte{
		"magic":      append([]byte("XXXX"), good[4:]...),
		"version":    badVersion,
		"cluster id": appendHello(nil, 2, "another-cluster"),
		"not a peer": appendHello(nil, 7, testClusterID),
		"node 0":     appendHello(nil, 0, testClusterID),
		"short":      good[:9],
	} {
		t.Run("hello "+name, func(t *testing.T) {
			conn := dialRaw(t, addr, hello)
			if name == "short" { // the rest never comes
				conn.(*net.TCPConn).CloseWrite()
			}
			expectClosed(t, conn)
		})
	}

	frame := func(m *pb.Message) []byte {
		b, err := appendFrame(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	oversized := binary.BigEndian.AppendUint32(nil, limit+1)
	for name, data := range map[string][]byte{
		"oversized":   oversized,
		"max length":  {0xff, 0xff, 0xff, 0xff},
		"garbage":     {0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff},
		"wrong from":  frame(&pb.Message{Type: pb.MessageType_MsgHeartbeat.Enum(), From: proto.Uint64(3), To: proto.Uint64(1)}),
		"wrong to":    frame(&pb.Message{Type: pb.MessageType_MsgHeartbeat.Enum(), From: proto.Uint64(2), To: proto.Uint64(5)}),
		"torn header": {0, 0},
	} {
		t.Run("frame "+name, func(t *testing.T) {
			conn := rawPeer(t, addr, good, 1)
			if _, err := conn.Write(data); err != nil {
				t.Fatal(err)
			}
			if name == "torn header" {
				conn.(*net.TCPConn).CloseWrite()
			}
			expectClosed(t, conn)
		})
	}

	select {
	case <-c.members[1].node.Done():
		t.Fatalf("the node stopped: %v", c.members[1].node.Err())
	default:
	}
	if st := c.members[1].node.Status(); st.RaftState != raft.StateLeader {
		t.Fatalf("the node is %v after the bad input", st.RaftState)
	}
	c.commit("after")
}

// TestTCPFrameRoundTrip: what appendFrame writes, readFrame reads back equal, frame after
// frame on one stream, and a clean end between frames is io.EOF.
func TestTCPFrameRoundTrip(t *testing.T) {
	msgs := []*pb.Message{
		{Type: pb.MessageType_MsgApp.Enum(), From: proto.Uint64(1), To: proto.Uint64(2), Term: proto.Uint64(3), Index: proto.Uint64(7), LogTerm: proto.Uint64(2), Commit: proto.Uint64(6),
			Entries: []*pb.Entry{{Term: proto.Uint64(3), Index: proto.Uint64(8), Data: []byte("x")}, {Term: proto.Uint64(3), Index: proto.Uint64(9)}}},
		{Type: pb.MessageType_MsgHeartbeat.Enum(), From: proto.Uint64(1), To: proto.Uint64(2)},
		{Type: pb.MessageType_MsgSnap.Enum(), From: proto.Uint64(1), To: proto.Uint64(2), Snapshot: &pb.Snapshot{Data: bytes.Repeat([]byte("s"), 1000),
			Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(40), Term: proto.Uint64(3), ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}},
	}
	var stream []byte
	for _, m := range msgs {
		var err error
		if stream, err = appendFrame(stream, m); err != nil {
			t.Fatal(err)
		}
	}
	r := bytes.NewReader(stream)
	var buf []byte
	for i, want := range msgs {
		got := new(pb.Message)
		var err error
		if buf, err = readFrame(r, buf, 1<<20, got); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("frame %d: got %v, want %v", i, got, want)
		}
	}
	if _, err := readFrame(r, buf, 1<<20, new(pb.Message)); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

// FuzzReadFrame feeds the frame decoder arbitrary bytes: it never panics, never reads past
// the frame it reports, refuses lengths over the limit before allocating, and what it accepts
// encodes and decodes again to an equal message.
func FuzzReadFrame(f *testing.F) {
	const limit = 1 << 12
	for _, m := range []*pb.Message{
		{Type: pb.MessageType_MsgApp.Enum(), From: proto.Uint64(1), To: proto.Uint64(2), Term: proto.Uint64(3), Entries: []*pb.Entry{{Term: proto.Uint64(3), Index: proto.Uint64(1), Data: []byte("d")}}},
		{Type: pb.MessageType_MsgVote.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Term: proto.Uint64(9), LogTerm: proto.Uint64(8), Index: proto.Uint64(100)},
	} {
		b, _ := appendFrame(nil, m)
		f.Add(b)
	}
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		m := new(pb.Message)
		_, err := readFrame(r, nil, limit, m)
		consumed := len(data) - r.Len()
		if len(data) >= 4 && binary.BigEndian.Uint32(data) > limit {
			if !errors.Is(err, ErrFrameTooLarge) || consumed != 4 {
				t.Fatalf("length %d over the limit: err %v after %d bytes", binary.BigEndian.Uint32(data), err, consumed)
			}
			return
		}
		if err != nil {
			return
		}
		if consumed != 4+int(binary.BigEndian.Uint32(data)) {
			t.Fatalf("read %d bytes of a %d-byte frame", consumed, binary.BigEndian.Uint32(data))
		}
		again, err := appendFrame(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		m2 := new(pb.Message)
		if _, err := readFrame(bytes.NewReader(again), nil, 1<<30, m2); err != nil || !proto.Equal(m, m2) {
			t.Fatalf("re-encoded frame: %v, %v != %v", err, m2, m)
		}
	})
}

// TestTCPSendNeverBlocks: Send to a peer that is down, or whose connection is up but which
// reads nothing, drops what does not fit and reports it, without waiting.
func TestTCPSendNeverBlocks(t *testing.T) {
	// Peer 2 answers the hello, then never reads.
	stalled, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	go func() {
		for {
			c, err := stalled.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			if _, _, err := readHello(c); err == nil {
				c.Write(appendHello(nil, 2, testClusterID))
			}
		}
	}()
	c, tms := newTCPCluster(t, func(cfg *TCPConfig) {
		cfg.Peers = map[uint64]string{1: cfg.Peers[1], 2: stalled.Addr().String(), 3: "127.0.0.1:1"}
		cfg.QueueSize = 64
	}, 1)
	c.commit("ready")
	tr := tms[1].tr
	deadline := time.Now().Add(5 * time.Second)
	for !tr.peers[2].connected.Load() {
		if time.Now().After(deadline) {
			t.Fatal("never connected to peer 2")
		}
		time.Sleep(time.Millisecond) // polling a condition, not synchronising
	}
	big := bytes.Repeat([]byte("x"), 64<<10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2000 { // 128 MiB to peer 2: more than the socket buffers and the queue hold
			tr.Send([]*pb.Message{{Type: pb.MessageType_MsgApp.Enum(), From: proto.Uint64(1), To: proto.Uint64(2),
				Entries: []*pb.Entry{{Data: big}}}})
			tr.Send([]*pb.Message{{Type: pb.MessageType_MsgSnap.Enum(), From: proto.Uint64(1), To: proto.Uint64(3), Snapshot: &pb.Snapshot{}}})
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Send blocked on a peer that is down or stalled")
	}
	c.commit("still committing")
}

// TestTCPDialChecksTheAnswer: the dialler refuses a connection answered by another node than
// the one it dialled, and one refused by a node of another cluster.
func TestTCPDialChecksTheAnswer(t *testing.T) {
	serve := func(id uint64, cluster string) string {
		tr, err := NewTCPTransport(TCPConfig{ID: id, ClusterID: cluster, Peers: map[uint64]string{1: "127.0.0.1:1"}, Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go tr.Serve(l)
		t.Cleanup(func() { tr.Close(); l.Close() })
		return l.Addr().String()
	}
	wrongNode, otherCluster := serve(3, testClusterID), serve(2, "another-cluster")
	for name, addr := range map[string]string{"wrong node": wrongNode, "other cluster": otherCluster} {
		t.Run(name, func(t *testing.T) {
			tr, err := NewTCPTransport(TCPConfig{ID: 1, ClusterID: testClusterID, Logger: quietLogger})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			c, err := tr.dial(&tcpPeer{id: 2, addr: addr})
			if err == nil {
				c.Close()
				t.Fatal("connected")
			}
			if !errors.Is(err, ErrBadHandshake) {
				t.Fatalf("dial: %v, want ErrBadHandshake", err)
			}
		})
	}
}

package quorum

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Magic is how a connection of the quorum's TCP protocol opens: a listener that serves Kafka
// requests too tells a Raft connection by these first four bytes (doc.go).
const Magic = wireMagic

// Wire constants of the quorum's TCP protocol (doc.go, "Raft over TCP"); part of the format.
const (
	wireMagic      = "RNRF" // Runnel Raft
	wireVersion    = 1
	maxClusterID   = 255 // longest cluster id a hello carries
	helloFixedSize = len(wireMagic) + 2 + 8 + 1
)

// Defaults of TCPConfig.
const (
	DefaultMaxFrameBytes = 64 << 20
	defaultQueueSize     = 4096
	defaultBackoffMin    = 50 * time.Millisecond
	defaultBackoffMax    = 2 * time.Second
	defaultIOTimeout     = 10 * time.Second
)

// Errors a connection is closed with; the listener side logs them (rate-limited).
var (
	ErrBadHandshake  = errors.New("quorum: bad handshake")
	ErrFrameTooLarge = errors.New("quorum: frame too large")
	ErrBadFrame      = errors.New("quorum: bad frame")
)

// TCPConfig configures a TCPTransport.
type TCPConfig struct {
	ID        uint64 // this voter's node.id
	ClusterID string // the cluster's id; a peer with another is refused
	// Peers maps every other voter's Raft id to its controller listener's host:port
	// (controller.quorum.voters). An entry for ID itself is ignored.
	Peers map[uint64]string
	// MaxFrameBytes caps one frame (a larger length closes the connection); 0: DefaultMaxFrameBytes.
	// It must hold a snapshot, which travels in one MsgSnap.
	MaxFrameBytes int
	// QueueSize is how many messages wait for one peer before Send drops more; 0: 4096.
	QueueSize int
	// BackoffMin and BackoffMax bound the wait between two dials of a peer (doubling, with
	// jitter); 0: 50 ms and 2 s.
	BackoffMin, BackoffMax time.Duration
	// IOTimeout bounds a dial, a handshake and one flush of queued frames; 0: 10 s.
	IOTimeout time.Duration
	Logger    *slog.Logger // nil: slog.Default()
}

// TCPTransport carries Raft messages between voters over TCP, in the framed protocol doc.go
// describes. Outbound, it keeps one connection per peer with a bounded queue, redialled with
// backoff; Send never blocks. Inbound, Serve accepts connections on a listener (the
// controller listener) and hands their messages to the node's Step.
//
// Create it, start the Node with it as NodeConfig.Transport, then Attach the Node: messages
// the node sends before Attach are queued (or dropped) without reports, and inbound messages
// before Attach are dropped.
type TCPTransport struct {
	cfg    TCPConfig
	logger *slog.Logger
	node   atomic.Pointer[Node]
	peers  map[uint64]*tcpPeer // fixed at construction

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	inbound map[net.Conn]struct{} // accepted connections, closed by Close
	closed  bool

	lastWarn atomic.Int64 // unix nanos of the last rate-limited warning
}

// tcpPeer is one outbound connection's state; its goroutine (run) owns the connection.
type tcpPeer struct {
	id        uint64
	addr      string
	queue     chan *pb.Message
	connected atomic.Bool // a handshaken connection is up: Send queues rather than drops
}

// NewTCPTransport returns a transport for cfg.ID and starts dialling its peers.
func NewTCPTransport(cfg TCPConfig) (*TCPTransport, error) {
	if cfg.ID == 0 {
		return nil, errors.New("quorum: a transport needs the node's id")
	}
	if len(cfg.ClusterID) > maxClusterID {
		return nil, fmt.Errorf("quorum: cluster id longer than %d bytes", maxClusterID)
	}
	if cfg.MaxFrameBytes <= 0 {
		cfg.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = defaultQueueSize
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = defaultBackoffMin
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(defaultBackoffMax, cfg.BackoffMin)
	}
	if cfg.IOTimeout <= 0 {
		cfg.IOTimeout = defaultIOTimeout
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	t := &TCPTransport{cfg: cfg, logger: logger.With("node", cfg.ID), peers: map[uint64]*tcpPeer{}, inbound: map[net.Conn]struct{}{}}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	for id, addr := range cfg.Peers {
		if id == cfg.ID {
			continue
		}
		if id == 0 {
			return nil, errors.New("quorum: peer id 0")
		}
		p := &tcpPeer{id: id, addr: addr, queue: make(chan *pb.Message, cfg.QueueSize)}
		t.peers[id] = p
		t.wg.Add(1)
		go t.runPeer(p)
	}
	return t, nil
}

// Attach names the node that inbound messages are stepped into and that send failures are
// reported to.
func (t *TCPTransport) Attach(n *Node) { t.node.Store(n) }

// Send implements Transport: each message is queued for its peer's connection, or dropped
// (reported unreachable; a MsgSnap also reported failed) when the peer is unknown, not
// connected or its queue is full. It never blocks.
func (t *TCPTransport) Send(msgs []*pb.Message) {
	for _, m := range msgs {
		p := t.peers[m.GetTo()]
		if p != nil && p.connected.Load() {
			select {
			case p.queue <- m:
				continue
			default:
			}
		}
		t.dropped(m)
	}
}

// dropped reports a message that will not be delivered.
func (t *TCPTransport) dropped(m *pb.Message) {
	n := t.node.Load()
	if n == nil {
		return
	}
	n.ReportUnreachable(m.GetTo())
	if m.GetType() == pb.MessageType_MsgSnap {
		n.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
	}
}

// Close stops dialling, closes every connection (Serve's listeners stay the caller's to close)
// and waits for the transport's goroutines.
func (t *TCPTransport) Close() {
	t.cancel()
	t.mu.Lock()
	t.closed = true
	for c := range t.inbound {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// Serve accepts connections on l until it fails (closed) or the transport is closed, serving
// each with ServeConn. When it returns, the connections it accepted are closed too: closing
// the listener cuts this node off from its peers' messages.
func (t *TCPTransport) Serve(l net.Listener) error {
	var mine sync.Map // net.Conn → struct{}: this listener's connections
	var wg sync.WaitGroup
	defer func() {
		mine.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		wg.Wait()
	}()
	stop := context.AfterFunc(t.ctx, func() { l.Close() })
	defer stop()
	for {
		c, err := l.Accept()
		if err != nil {
			if t.ctx.Err() != nil {
				return nil
			}
			return err
		}
		mine.Store(c, struct{}{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer mine.Delete(c)
			t.ServeConn(c)
		}()
	}
}

// ServeConn serves one inbound connection (accepted by Serve, or handed over by a listener
// that serves other protocols too): it reads the handshake, answers it, then steps every
// message into the node until the connection ends or anything unexpected arrives, and closes
// the connection.
func (t *TCPTransport) ServeConn(c net.Conn) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		c.Close()
		return
	}
	t.inbound[c] = struct{}{}
	t.wg.Add(1)
	t.mu.Unlock()
	defer func() {
		c.Close()
		t.mu.Lock()
		delete(t.inbound, c)
		t.mu.Unlock()
		t.wg.Done()
	}()
	c.SetDeadline(time.Now().Add(t.cfg.IOTimeout))
	r := bufio.NewReader(c)
	from, cluster, err := readHello(r)
	if err == nil && cluster != t.cfg.ClusterID {
		err = fmt.Errorf("%w: cluster id %q, not %q", ErrBadHandshake, cluster, t.cfg.ClusterID)
	}
	if err == nil && t.peers[from] == nil {
		err = fmt.Errorf("%w: node %d is not a voter", ErrBadHandshake, from)
	}
	if err == nil {
		_, err = c.Write(appendHello(nil, t.cfg.ID, t.cfg.ClusterID))
	}
	if err != nil {
		t.warn("quorum: refused a connection", "remote", c.RemoteAddr(), "err", err)
		return
	}
	c.SetDeadline(time.Time{})
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	var buf []byte
	for {
		m := new(pb.Message)
		buf, err = readFrame(r, buf, t.cfg.MaxFrameBytes, m)
		if err == nil && (m.GetFrom() != from || m.GetTo() != t.cfg.ID) {
			err = fmt.Errorf("%w: message from %d to %d on node %d's connection", ErrBadFrame, m.GetFrom(), m.GetTo(), from)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				t.warn("quorum: closed a peer's connection", "peer", from, "err", err)
			}
			return
		}
		n := t.node.Load()
		if n == nil {
			continue
		}
		if err := n.Step(ctx, m); err != nil {
			return // the node stopped, or the transport closed
		}
	}
}

// runPeer keeps one connection to p up and writes p's queue to it.
func (t *TCPTransport) runPeer(p *tcpPeer) {
	defer t.wg.Done()
	backoff := t.cfg.BackoffMin
	for {
		c, err := t.dial(p)
		if err == nil {
			backoff = t.cfg.BackoffMin
			err = t.writeLoop(p, c)
		}
		p.connected.Store(false)
		t.drain(p)
		if t.ctx.Err() != nil {
			return
		}
		if err != nil {
			t.logger.Debug("quorum: peer connection", "peer", p.id, "addr", p.addr, "err", err)
			if n := t.node.Load(); n != nil {
				n.ReportUnreachable(p.id)
			}
		}
		wait := backoff/2 + time.Duration(time.Now().UnixNano()%int64(backoff/2+1))
		select {
		case <-time.After(wait):
		case <-t.ctx.Done():
			return
		}
		backoff = min(2*backoff, t.cfg.BackoffMax)
	}
}

// dial connects to p and exchanges the handshake.
func (t *TCPTransport) dial(p *tcpPeer) (net.Conn, error) {
	d := net.Dialer{Timeout: t.cfg.IOTimeout}
	c, err := d.DialContext(t.ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(t.cfg.IOTimeout))
	_, err = c.Write(appendHello(nil, t.cfg.ID, t.cfg.ClusterID))
	var id uint64
	var cluster string
	if err == nil {
		id, cluster, err = readHello(c)
	}
	if err == nil && (id != p.id || cluster != t.cfg.ClusterID) {
		err = fmt.Errorf("%w: %s answered as node %d of cluster %q", ErrBadHandshake, p.addr, id, cluster)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// writeLoop writes p's queue to c until a write fails, the peer closes c (the peer sends
// nothing after its handshake, so any read ends the connection) or the transport closes.
func (t *TCPTransport) writeLoop(p *tcpPeer, c net.Conn) error {
	peerGone := make(chan struct{})
	go func() {
		defer close(peerGone)
		var b [1]byte
		c.Read(b[:])
	}()
	defer func() { c.Close(); <-peerGone }()
	p.connected.Store(true)
	w := bufio.NewWriterSize(c, 64<<10)
	var buf []byte
	var snaps []*pb.Message // MsgSnaps written since the last flush, reported after it
	for {
		var m *pb.Message
		select {
		case m = <-p.queue:
		case <-peerGone:
			return errors.New("connection closed by the peer")
		case <-t.ctx.Done():
			return nil
		}
		for m != nil {
			var err error
			buf, err = appendFrame(buf[:0], m)
			if err == nil && len(buf)-4 > t.cfg.MaxFrameBytes {
				err = fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(buf)-4)
			}
			if err != nil { // this message cannot go: drop it, keep the connection
				t.warn("quorum: message not sent", "peer", p.id, "type", m.GetType(), "err", err)
				t.dropped(m)
			} else {
				w.Write(buf)
				if m.GetType() == pb.MessageType_MsgSnap {
					snaps = append(snaps, m)
				}
			}
			select {
			case m = <-p.queue:
			default:
				m = nil
			}
		}
		c.SetWriteDeadline(time.Now().Add(t.cfg.IOTimeout))
		err := w.Flush()
		if n := t.node.Load(); n != nil {
			status := raft.SnapshotFinish
			if err != nil {
				status = raft.SnapshotFailure
			}
			for _, s := range snaps {
				n.ReportSnapshot(s.GetTo(), status)
			}
		}
		snaps = snaps[:0]
		if err != nil {
			return err
		}
	}
}

// drain drops what is queued for a peer whose connection went down.
func (t *TCPTransport) drain(p *tcpPeer) {
	for {
		select {
		case m := <-p.queue:
			t.dropped(m)
		default:
			return
		}
	}
}

// warn logs at most one warning a second, as peers' input can flood it.
func (t *TCPTransport) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := t.lastWarn.Load()
	if now-last < int64(time.Second) || !t.lastWarn.CompareAndSwap(last, now) {
		return
	}
	t.logger.Warn(msg, args...)
}

// appendHello appends the handshake naming node id of cluster.
func appendHello(b []byte, id uint64, cluster string) []byte {
	b = append(b, wireMagic...)
	b = binary.BigEndian.AppendUint16(b, wireVersion)
	b = binary.BigEndian.AppendUint64(b, id)
	b = append(b, byte(len(cluster)))
	return append(b, cluster...)
}

// readHello reads a handshake: the sender's node id and cluster id.
func readHello(r io.Reader) (id uint64, cluster string, err error) {
	var fixed [helloFixedSize]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return 0, "", fmt.Errorf("%w: %w", ErrBadHandshake, err)
	}
	if string(fixed[:4]) != wireMagic {
		return 0, "", fmt.Errorf("%w: magic %q", ErrBadHandshake, fixed[:4])
	}
	if v := binary.BigEndian.Uint16(fixed[4:]); v != wireVersion {
		return 0, "", fmt.Errorf("%w: version %d, want %d", ErrBadHandshake, v, wireVersion)
	}
	id = binary.BigEndian.Uint64(fixed[6:])
	if id == 0 {
		return 0, "", fmt.Errorf("%w: node id 0", ErrBadHandshake)
	}
	name := make([]byte, fixed[14])
	if _, err := io.ReadFull(r, name); err != nil {
		return 0, "", fmt.Errorf("%w: %w", ErrBadHandshake, err)
	}
	return id, string(name), nil
}

// appendFrame appends m as one frame: its length, then its protobuf encoding.
func appendFrame(b []byte, m *pb.Message) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b, err := proto.MarshalOptions{}.MarshalAppend(b, m)
	if err != nil {
		return b[:start], err
	}
	n := len(b) - start - 4
	if n > 1<<31-1 {
		return b[:start], fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	return b, nil
}

// readFrame reads one frame into m, reusing buf for its bytes (returned for the next call). A
// length over limit is ErrFrameTooLarge, before anything is allocated for it; bytes that are
// not a Message are ErrBadFrame; a connection closed between frames is io.EOF.
func readFrame(r io.Reader, buf []byte, limit int, m *pb.Message) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return buf, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(limit) {
		return buf, fmt.Errorf("%w: %d bytes, the limit is %d", ErrFrameTooLarge, n, limit)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return buf, err
	}
	if err := proto.Unmarshal(buf, m); err != nil {
		return buf, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	return buf, nil
}

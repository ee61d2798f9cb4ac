package broker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"runnel/broker/group"
	"runnel/broker/metadata"
	"runnel/io/flush"
	"runnel/segment"
)

// Broker is a single-node Kafka broker over a set of log directories. Build
// it with New, serve connections with Serve or ListenAndServe, and Close it
// to stop accepting, finish the requests in flight and close the logs
// cleanly (checkpoints and the clean-shutdown marker written).
//
// Lock order: adminMu, then mu. The topic table is copy-on-write behind an
// atomic pointer, so request handlers look partitions up without locks.
type Broker struct {
	cfg       Config
	logger    *slog.Logger
	clusterID string
	dirs      []*logDir
	metrics   *metrics

	table atomic.Pointer[topicTable]
	// topicNamesCache: the sorted names of the table above (topicNames).
	topicNamesCache atomic.Pointer[topicNamesCache]
	// adminMu serializes changes to topics (create, delete, partitions,
	// configs) and the writes of topics.json that go with them.
	adminMu sync.Mutex

	// done is closed when Close starts; long waits (fetch long-polls)
	// select on it and finish early.
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	bg        sync.WaitGroup // background loops
	connWG    sync.WaitGroup

	// parkedFetches counts fetches blocked in a long poll, where new data wakes them (tests
	// wait on it).
	parkedFetches atomic.Int64
	// fetchWakeups counts the wake-ups of parked fetches by a change of one of their logs
	// (tests and benchmarks wait on it).
	fetchWakeups atomic.Int64
	// fetchSessions are the Fetch sessions (fetchsession.go).
	fetchSessions *fetchSessionCache

	mu        sync.Mutex
	listeners []net.Listener
	// controllerLn is the controller listener (also in listeners), nil
	// when there is none.
	controllerLn net.Listener
	conns        map[*conn]struct{}
	advPort      int32 // advertised port, fixed by the first Serve when configured as 0

	admin   *http.Server
	adminLn net.Listener

	groups *group.Coordinator // consumer groups (groups.go)
	// creatingOffsets is set while a background creation of
	// __consumer_offsets runs (cluster_groups.go).
	creatingOffsets atomic.Bool

	cleaner *segment.Cleaner // the log cleaner, nil when disabled (cleaner.go)

	// meta holds the cluster's metadata image this broker serves from
	// (cluster.go), applied by followImages (cluster_follow.go).
	meta     metadata.Holder
	follower imageFollower
	// ctrl is where cluster changes go (a ClusterController); quorum is
	// this node's controller quorum member, nil on a broker-only node.
	ctrl         atomic.Pointer[ClusterController]
	quorum       *localQuorum
	registration registration     // cluster_register.go
	producerIDs  producerIDBlocks // init_producer_id.go
	remote       remoteController // cluster_remote.go
	// replicationThrottles are the leader's and the follower's byte
	// buckets (replication_throttle.go).
	replicationThrottles [2]throttleBucket
	// createFailed holds, per topic id, why creating the logs of its
	// partitions assigned here failed with the last image (guarded by
	// adminMu): CreateTopics rolls such a topic back.
	createFailed map[[16]byte]error
	// lifetime ends when Close starts: the context of calls to the
	// controller.
	lifetime    context.Context
	endLifetime context.CancelFunc

	repl       replication     // replication.go
	autoCreate autoCreateLimit // autocreate.go
	closeLog   logLimiter      // connections closed on an error (loglimit.go)
	// bufferAhead is the memory std connections' frames hold ahead of
	// their bytes (Config.RequestBufferAhead, conn.go's readBody).
	bufferAhead atomic.Int64
}

// logDir is one data directory with its logs and its flusher.
type logDir struct {
	path    string
	dir     *segment.LogDir
	flusher *flush.Flusher
	// partitions counts the partitions placed here (guarded by adminMu),
	// so that new ones go to the emptiest directory.
	partitions int
}

// metaPropertiesFile names the node and cluster a log dir belongs to.
const metaPropertiesFile = "meta.properties"

// New opens (creating if needed) the log directories, recovers their logs,
// loads topic metadata and starts the background loops and the admin
// listener. It does not listen for Kafka clients: call Serve or
// ListenAndServe.
func New(cfg Config, logger *slog.Logger) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	defaults := make(map[string]string, len(cfg.TopicDefaults))
	for k, v := range cfg.TopicDefaults {
		defaults[k] = v
	}
	cfg.TopicDefaults = defaults
	b := &Broker{
		cfg:     cfg,
		logger:  logger,
		done:    make(chan struct{}),
		conns:   map[*conn]struct{}{},
		advPort: cfg.AdvertisedPort,
	}
	b.lifetime, b.endLifetime = context.WithCancel(context.Background())
	b.follower.init()
	b.createFailed = map[[16]byte]error{}
	b.fetchSessions = newFetchSessionCache(int(b.cfg.FetchSessionCacheSlots), b.cfg.FetchSessionEvictionAfter)
	b.metrics = newMetrics(b)
	b.closeLog = logLimiter{burst: closeLogBurst, interval: closeLogInterval}
	b.table.Store(&topicTable{byName: map[string]*topic{}, byID: map[[16]byte]*topic{}})
	if err := b.checkMetaProperties(); err != nil {
		return nil, err
	}
	if err := b.checkHost(); err != nil { // hostcheck.go
		return nil, err
	}
	// abort undoes what New started when a later step fails.
	abort := func(err error) (*Broker, error) {
		// The controlled shutdown first, as Close does: it waits until this
		// broker has applied the image that takes its leaderships away,
		// which needs the image follower that b.done stops.
		b.stopLifecycle()
		close(b.done) // stops what waits for Close (the group coordinator)
		b.endLifetime()
		b.mu.Lock()
		for _, ln := range b.listeners { // the controller listener
			ln.Close()
		}
		b.mu.Unlock()
		b.stopReplication()
		b.bg.Wait()
		b.stopRemote()
		b.stopQuorum()
		b.closeDirs(func(string) {})
		return nil, err
	}
	b.startReplication() // before the first image is applied
	if err := b.startCluster(); err != nil {
		return abort(err)
	}
	if err := b.startGroups(); err != nil {
		return abort(err)
	}
	if cfg.AdminListener != "" {
		if err := b.startAdmin(); err != nil {
			return abort(err)
		}
	}
	b.startLoop("retention", cfg.RetentionCheckInterval, b.applyRetention)
	b.startCleaner()
	b.startLoop("checkpoint", cfg.CheckpointInterval, b.writeCheckpoints)
	if cfg.FlushPolicy == flush.Interval {
		b.startLoop("topic flush", topicFlushTick, b.applyTopicFlushSettings)
	}
	logger.Info("broker started", "node.id", cfg.NodeID, "cluster.id", b.clusterID, "log.dirs", cfg.LogDirs, "topics", len(b.table.Load().byName))
	return b, nil
}

// checkMetaProperties makes sure every log dir belongs to this node and to
// one cluster. The cluster id comes from Config.ClusterID, an existing
// meta.properties, or is made up. A fresh log dir (no partition directory,
// no topics.json) gets a meta.properties; one that holds data but whose
// meta.properties is missing, empty or lacks a key stops the start with a
// message saying what to write, because making a new one would silently
// move the data to a new cluster.
func (b *Broker) checkMetaProperties() error {
	clusterID := b.cfg.ClusterID
	node := strconv.Itoa(int(b.cfg.NodeID))
	var fresh, broken []string // paths to write; problems of dirs with data
	for _, dir := range b.cfg.LogDirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("broker: log dir: %w", err)
		}
		path := filepath.Join(dir, metaPropertiesFile)
		props, err := segment.ReadProperties(path)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && len(props) == 0) {
			data, err := logDirData(dir)
			if err != nil {
				return err
			}
			if data == "" {
				fresh = append(fresh, path)
			} else {
				broken = append(broken, fmt.Sprintf("%s is missing or empty, but %s holds %s", path, dir, data))
			}
			continue
		}
		if err != nil {
			broken = append(broken, err.Error())
			continue
		}
		id := props["node.id"]
		if id == "" && props["version"] == "0" {
			id = props["broker.id"] // Kafka's version 0 (ZooKeeper mode) names the node so
		}
		switch {
		case id == "":
			broken = append(broken, fmt.Sprintf("%s has no node.id", path))
		case id != node:
			return fmt.Errorf("broker: %s belongs to node.id %s, this broker is node.id %d: set node.id=%s, or use another log dir", path, id, b.cfg.NodeID, id)
		}
		switch cid := props["cluster.id"]; {
		case cid == "":
			broken = append(broken, fmt.Sprintf("%s has no cluster.id", path))
		case clusterID == "":
			clusterID = cid
		case cid != clusterID:
			return fmt.Errorf("broker: %s belongs to cluster %s, not %s", path, cid, clusterID)
		}
	}
	if len(broken) > 0 {
		want := clusterID
		if want == "" {
			want = "<the cluster id this broker had; its \"broker started\" log line names it>"
		}
		return fmt.Errorf("broker: %s; restore %s from a backup, or write it with these lines:\n\tversion=1\n\tcluster.id=%s\n\tnode.id=%d",
			strings.Join(broken, "; "), metaPropertiesFile, want, b.cfg.NodeID)
	}
	if clusterID == "" {
		clusterID = newUUIDString()
	}
	for _, path := range fresh {
		props := map[string]string{"version": "1", "cluster.id": clusterID, "node.id": node}
		if err := segment.WriteProperties(path, props); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
	}
	b.clusterID = clusterID
	return nil
}

// logDirData describes the data a log dir holds ("topics.json", "3
// partition directories"), or is "" for a directory without any.
func logDirData(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("broker: log dir: %w", err)
	}
	var found []string
	partitions := 0
	for _, e := range entries {
		if e.Name() == topicsFile {
			found = append(found, topicsFile)
		} else if _, ok := segment.ParsePartitionDir(e.Name()); ok && e.IsDir() {
			partitions++
		}
	}
	if partitions > 0 {
		found = append(found, fmt.Sprintf("%d partition directories", partitions))
	}
	return strings.Join(found, " and "), nil
}

// ErrClosed is returned by Serve and ListenAndServe once Close has been
// called, like http.ErrServerClosed.
var ErrClosed = errors.New("broker: closed")

// Serve accepts Kafka connections on ln until Close; it returns ErrClosed
// after Close and the accept error otherwise. It may be called for several
// listeners. An advertised port of 0 becomes ln's port.
func (b *Broker) Serve(ln net.Listener) error {
	b.mu.Lock()
	select {
	case <-b.done:
		b.mu.Unlock()
		ln.Close()
		return ErrClosed
	default:
	}
	b.listeners = append(b.listeners, ln)
	if b.advPort == 0 {
		if tcp, ok := ln.Addr().(*net.TCPAddr); ok {
			b.advPort = int32(tcp.Port)
		}
	}
	b.mu.Unlock()
	b.logger.Info("listening", "addr", ln.Addr().String(), "net", b.cfg.Net)
	if b.useEpoll() {
		return b.serveEpoll(ln) // conn_epoll.go
	}
	return b.acceptConns(ln, func(nc net.Conn) bool {
		if !b.addConn(nc, false) {
			nc.Close()
			return false
		}
		return true
	})
}

// acceptConns hands each connection ln accepts to serve until serve
// returns false or Close is called (ErrClosed), or accepting fails for
// good (the error). A timeout or running out of file descriptors is
// retried after a growing pause (5 ms to 1 s): the broker's Kafka and
// controller listeners share it.
func (b *Broker) acceptConns(ln net.Listener, serve func(net.Conn) bool) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-b.done:
				return ErrClosed
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				b.logger.Warn("accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if !serve(nc) {
			return ErrClosed
		}
	}
}

// addConn starts serving nc unless the broker is closing; controller: nc
// came in on the controller listener.
func (b *Broker) addConn(nc net.Conn, controller bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.done:
		return false
	default:
	}
	if tcp, ok := nc.(*net.TCPConn); ok {
		tcp.SetNoDelay(true)
	}
	c := newConn(b, nc)
	c.controller = controller
	b.conns[&c.conn] = struct{}{}
	b.connWG.Add(1)
	b.metrics.connections.Inc()
	go func() {
		defer b.connWG.Done()
		c.serve()
		b.metrics.connections.Dec()
		b.mu.Lock()
		delete(b.conns, &c.conn)
		b.mu.Unlock()
	}()
	return true
}

// ListenAndServe listens on Config.ListenAddr and serves until Close.
func (b *Broker) ListenAndServe() error {
	ln, err := net.Listen("tcp", b.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	return b.Serve(ln)
}

// Addr is the address of the first listener being served, nil before Serve.
func (b *Broker) Addr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ln := range b.listeners {
		if ln != b.controllerLn {
			return ln.Addr()
		}
	}
	return nil
}

// AdminAddr is the admin HTTP listener's address, nil when disabled.
func (b *Broker) AdminAddr() net.Addr {
	if b.adminLn == nil {
		return nil
	}
	return b.adminLn.Addr()
}

// ClusterID is the cluster id stored in the log dirs' meta.properties.
func (b *Broker) ClusterID() string { return b.clusterID }

// advertised is the host and port Metadata and DescribeCluster give out.
func (b *Broker) advertised() (string, int32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cfg.advertisedHost(), b.advPort
}

// Close stops accepting, lets connections finish the requests they have
// read (up to Config.ShutdownTimeout), then flushes and closes every log,
// writing checkpoints and the clean-shutdown marker. It is safe to call
// more than once; later calls return the first call's result.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.close() })
	return b.closeErr
}

func (b *Broker) close() error {
	// Each step's time is logged (Info): at 10,000 partitions a shutdown takes seconds, and
	// which step takes them differs by file system.
	start := time.Now()
	steps := []any{}
	step := func(name string) {
		now := time.Now()
		steps = append(steps, name, now.Sub(start).Round(time.Millisecond))
		start = now
	}
	b.stopLifecycle() // the controlled shutdown, while the broker still follows the metadata log
	step("controlled_shutdown")
	b.mu.Lock()
	close(b.done)
	for _, ln := range b.listeners {
		ln.Close()
	}
	for c := range b.conns {
		c.shutdown()
	}
	b.mu.Unlock()
	b.groups.Close() // answers joins waiting for a rebalance, so connections drain
	b.stopReplication()

	drained := make(chan struct{})
	go func() {
		b.connWG.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(b.cfg.ShutdownTimeout):
		b.logger.Warn("connections did not finish in time; closing them", "timeout", b.cfg.ShutdownTimeout)
		b.mu.Lock()
		for c := range b.conns {
			c.t.close()
		}
		b.mu.Unlock()
		<-drained
	}
	step("connections")
	b.endLifetime()
	b.bg.Wait()
	b.stopCleaner()
	if b.admin != nil {
		b.admin.Close()
	}
	b.stopRemote()
	step("background")
	qerr := b.stopQuorum()
	step("quorum")
	err := errors.Join(qerr, b.closeDirs(step))
	if err != nil {
		b.logger.Error("broker closed with errors", append([]any{"err", err}, steps...)...)
	} else {
		b.logger.Info("broker closed cleanly", steps...)
	}
	return err
}

// closeDirs closes the flushers (a last sync of every dirty log) and then
// the log dirs (checkpoints, clean-shutdown marker). An offline log dir's
// errors are expected (its failure was logged when it happened): it is
// closed without the marker, so the next start recovers it.
func (b *Broker) closeDirs(step func(name string)) error {
	var errs []error
	keep := func(d *logDir, err error) {
		if err == nil {
			return
		}
		if d.dir != nil && d.dir.Failed() != nil {
			b.logger.Warn("log dir offline at shutdown; the next start recovers it from its recovery point", "dir", d.path)
			return
		}
		errs = append(errs, fmt.Errorf("%s: %w", d.path, err))
	}
	for _, d := range b.dirs {
		if d.flusher != nil {
			keep(d, d.flusher.Close())
		}
	}
	step("last_sync")
	for _, d := range b.dirs {
		if d.dir != nil {
			keep(d, d.dir.Close())
		}
	}
	step("close_logs")
	return errors.Join(errs...)
}

// startLoop runs fn every interval until Close.
func (b *Broker) startLoop(name string, interval time.Duration, fn func()) {
	if interval <= 0 {
		return
	}
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-b.done:
				return
			case <-t.C:
				fn()
			}
		}
	}()
	b.logger.Debug("background loop started", "loop", name, "interval", interval)
}

// applyRetention deletes segments past their topic's retention.
func (b *Broker) applyRetention() {
	now := time.Now()
	for _, t := range b.table.Load().byName {
		for _, p := range t.partitions() {
			n, err := p.log.ApplyRetention(now)
			if errors.Is(err, segment.ErrClosed) { // deleted meanwhile
				continue
			}
			p.log.ExpireProducers() // producer.id.expiration.ms, checked as often as retention
			if err != nil {
				b.logger.Error("retention failed", "topic", p.topic, "partition", p.index, "err", err)
			} else if n > 0 {
				b.logger.Info("retention deleted segments", "topic", p.topic, "partition", p.index, "segments", n)
			}
		}
	}
}

// writeCheckpoints writes each log dir's recovery-point and log-start
// checkpoints, so that recovery after a crash starts near the end.
func (b *Broker) writeCheckpoints() {
	for _, d := range b.dirs {
		if d.dir.Failed() != nil {
			continue // offline: its recovery points stay those last written
		}
		if err := d.dir.WriteCheckpoints(); err != nil {
			b.logger.Error("writing checkpoints failed", "dir", d.path, "err", err)
		}
	}
}

// newUUIDString is a random Kafka Uuid in its string form (base64url, no
// padding), as cluster ids are written.
func newUUIDString() string {
	id := newUUID()
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// newUUID is a random version-4 UUID that is never all zeros (Kafka's
// ZERO_UUID means "no id").
func newUUID() [16]byte {
	var id [16]byte
	for id == ([16]byte{}) {
		rand.Read(id[:])
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
	}
	return id
}

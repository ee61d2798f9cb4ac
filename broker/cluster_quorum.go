package broker

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/controller"
	"runnel/broker/metadata"
	"runnel/broker/quorum"
	"runnel/segment"
)

// localQuorum is this node's member of the controller quorum (process.roles
// empty, the one-node default, or holding "controller"): the metadata log's
// storage, the controller that applies it, and the transport to the other
// voters.
type localQuorum struct {
	storage *quorum.Storage
	ctrl    *controller.Controller
	tcp     *quorum.TCPTransport // with other voters; nil for a single voter
}

// The metadata log is snapshotted every metadataSnapshotEvery entries (a
// snapshot is the image's records, so a start replays at most that many
// entries after it), keeping metadataCatchUpEntries below it for voters a
// little behind.
const (
	metadataSnapshotEvery  = 4096
	metadataCatchUpEntries = 512
)

// raftTicks turns controller.quorum.election.timeout.ms into Raft's clock:
// electionTicks ticks of tick each make the timeout, so that Raft's
// randomized election timeout, electionTicks plus up to as many more, lies
// in [timeout, 2×timeout) as Kafka's does; the leader heartbeats every tick.
// The default, 1 s, is ten ticks of 100 ms. Ticks are at least 1 ms, and
// an election takes at least two (Raft needs more than the heartbeat's one).
func raftTicks(electionTimeout time.Duration) (tick time.Duration, electionTicks int) {
	const ticksPerElection = 10
	tick = max(electionTimeout/ticksPerElection, time.Millisecond)
	return tick, max(int(electionTimeout/tick), 2)
}

// raftID is the Raft id of node.id: Raft reserves 0 for "none", and Kafka's
// node ids start at 0 (quorum/doc.go).
func raftID(node int32) uint64 { return uint64(node) + 1 }

// metadataLogConfig is the metadata log's segments: small, as the log is
// (snapshots bound it), preallocated as the broker's logs are.
func (b *Broker) metadataLogConfig() segment.Config {
	cfg := segment.DefaultConfig()
	cfg.SegmentBytes = 64 << 20
	cfg.SegmentIndexBytes = 64 << 10 // 8,192 entries, one every 4 KiB: 32 MiB of log
	cfg.PreallocateBytes = 1 << 20
	if b.cfg.PreallocateBytes > 0 {
		cfg.PreallocateBytes = min(b.cfg.PreallocateBytes, cfg.PreallocateBytes)
	}
	cfg.FS = b.cfg.FS
	return cfg
}

// metadataLogDir is the log dir that holds __cluster_metadata-0: the one
// that has it (log.dirs may have been reordered), else the first.
func (b *Broker) metadataLogDir() string {
	for _, dir := range b.cfg.LogDirs {
		if _, err := os.Stat(filepath.Join(dir, quorum.Partition.DirName())); err == nil {
			return dir
		}
	}
	return b.cfg.LogDirs[0]
}

// startQuorum starts this node's controller quorum member, when it is one:
// a single voter (process.roles empty) with no transport to speak of, or
// one of controller.quorum.voters over TCP on the controller listener. Its
// controller becomes this broker's ClusterController and hands every image
// it applies to ImageCommitted.
func (b *Broker) startQuorum() error {
	if len(b.cfg.ProcessRoles) > 0 && !b.cfg.hasRole("controller") {
		return nil // broker only: a metadata follower (cluster_remote.go)
	}
	st, err := quorum.Open(filepath.Join(b.metadataLogDir(), quorum.Partition.DirName()), quorum.Options{Segment: b.metadataLogConfig(), Logger: b.logger})
	if err != nil {
		return fmt.Errorf("broker: opening the metadata log: %w", err)
	}
	lq := &localQuorum{storage: st}
	id := raftID(b.cfg.NodeID)
	voters := []uint64{id}
	var transport quorum.Transport
	if len(b.cfg.QuorumVoters) == 0 {
		transport = quorum.NewLocalNetwork().Transport(id) // nobody to talk to
	} else {
		voters = voters[:0]
		peers := map[uint64]string{}
		for node, addr := range b.cfg.QuorumVoters {
			voters = append(voters, raftID(node))
			peers[raftID(node)] = addr
		}
		if lq.tcp, err = quorum.NewTCPTransport(quorum.TCPConfig{ID: id, ClusterID: b.clusterID, Peers: peers, Logger: b.logger}); err != nil {
			st.Close()
			return fmt.Errorf("broker: %w", err)
		}
		transport = lq.tcp
	}
	tick, electionTicks := raftTicks(b.cfg.QuorumElectionTimeout)
	lq.ctrl, err = controller.New(controller.Config{
		Node: quorum.NodeConfig{ID: id, Voters: voters, Storage: st, Transport: transport, Logger: b.logger,
			TickInterval: tick, ElectionTick: electionTicks, HeartbeatTick: 1,
			SnapshotEvery: metadataSnapshotEvery, CatchUpEntries: metadataCatchUpEntries},
		ClusterID:                b.clusterID,
		SessionTimeout:           b.cfg.BrokerSessionTimeout,
		DefaultPartitions:        b.cfg.NumPartitions,
		DefaultReplicationFactor: b.cfg.DefaultReplicationFactor,
		MaxPartitionsPerTopic:    b.cfg.MaxPartitions,
		Rules:                    b.controllerRules(),
		Rebalance:                b.cfg.Control.rebalance(),
		Applied:                  b.ImageCommitted,
		Logger:                   b.logger,
	})
	if err != nil {
		if lq.tcp != nil {
			lq.tcp.Close()
		}
		st.Close()
		return fmt.Errorf("broker: starting the controller: %w", err)
	}
	if lq.tcp != nil {
		lq.tcp.Attach(lq.ctrl.Node())
	}
	b.quorum = lq
	b.SetController(lq.ctrl)
	return nil
}

// controllerRules are the broker's validation rules, which the controller
// applies before it writes: Kafka's topic names, the topic configs Runnel
// knows, cleanup.policy as the list config, the broker's topic defaults,
// the replication throttles as the dynamic broker configs.
func (b *Broker) controllerRules() controller.Rules {
	r := controller.Rules{TopicName: validateTopicName, TopicConfig: checkTopicConfig, BrokerConfig: dynamicBrokerConfig}
	r.ListConfig = func(key string) bool {
		def, ok := topicConfigDefFor(key)
		return ok && def.typ == kmsg.ConfigTypeList
	}
	r.Default = func(key string) string {
		if v, ok := b.cfg.TopicDefaults[key]; ok {
			return v
		}
		def, _ := topicConfigDefFor(key)
		return def.kafkaDflt
	}
	return r
}

// knowsActive reports whether the quorum member knows a leader; the leader
// itself only once it is the active controller (it has applied an entry of
// its own term, so its image holds everything committed before).
func (lq *localQuorum) knowsActive() bool {
	st := lq.ctrl.Node().Status()
	if st.Lead == 0 {
		return false
	}
	return st.Lead != st.ID || lq.ctrl.Active()
}

// awaitQuorum waits until the local quorum member has caught up with the
// committed metadata log, logging every few seconds while it waits (peers
// not up yet), and returns the image it holds then. A follower asks the
// active controller for its committed offset and waits to apply it: its own
// commit index is no guide after a restart (it is persisted only with a
// new term or vote, and learnt again from the leader's heartbeats, which
// may come after the leader is known), and a stale image would take a
// partition this node holds for a deleted topic's.
func (b *Broker) awaitQuorum() (*metadata.Image, int64, error) {
	lq := b.quorum
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	start, warned := time.Now(), time.Now()
	var err error // the last try to learn the committed offset
	for {
		if lq.knowsActive() {
			if lq.ctrl.Active() {
				break
			}
			if err = b.awaitCommitted(); err == nil {
				break
			}
		}
		select {
		case <-lq.ctrl.Node().Done():
			return nil, 0, fmt.Errorf("broker: the controller quorum stopped: %w", lq.ctrl.Node().Err())
		case <-b.done:
			return nil, 0, ErrClosed
		case <-tick.C:
		}
		if time.Since(warned) > 5*time.Second {
			warned = time.Now()
			b.logger.Warn("waiting for the controller quorum", "voters", formatVoters(b.cfg.QuorumVoters),
				"applied", lq.ctrl.AppliedOffset(), "waited", time.Since(start).Round(time.Second), "err", err)
		}
	}
	return lq.ctrl.Image(), lq.ctrl.AppliedOffset(), nil
}

// awaitCommitted waits, for a second at most, until the local quorum
// member has applied the active controller's committed offset.
func (b *Broker) awaitCommitted() error {
	ctx, cancel := context.WithTimeout(b.lifetime, time.Second)
	defer cancel()
	committed, err := b.controller().CommittedOffset(ctx)
	if err != nil {
		return err
	}
	for b.quorum.ctrl.AppliedOffset() < committed {
		select {
		case <-ctx.Done():
			return fmt.Errorf("applying metadata offset %d: %w", committed, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// serveQuorumConn hands a connection that opened with the quorum's magic
// to the Raft transport; false when this node has none.
func (b *Broker) serveQuorumConn(c net.Conn) bool {
	if b.quorum == nil || b.quorum.tcp == nil {
		return false
	}
	go b.quorum.tcp.ServeConn(c) // the transport's Close ends it
	return true
}

// stopQuorum stops the controller, the transport and the storage.
func (b *Broker) stopQuorum() error {
	lq := b.quorum
	if lq == nil {
		return nil
	}
	lq.ctrl.Close()
	if lq.tcp != nil {
		lq.tcp.Close()
	}
	return lq.storage.Close()
}

// startCluster brings the broker into the cluster: it starts this node's
// quorum member (when it is a controller), the client to the active
// controller (a node of several), waits until its image has caught up with
// the committed metadata log (its own voter's, or a broker-only node's
// metadata follower's), imports a single-node data dir, opens the logs
// against the image, starts following images, then registers and waits to
// be unfenced, so that it serves as a full member at once.
func (b *Broker) startCluster() error {
	if err := b.startQuorum(); err != nil {
		return err
	}
	if err := b.startControllerClient(); err != nil { // cluster_remote.go
		return err
	}
	if err := b.startControllerListener(); err != nil { // cluster_listener.go
		return err
	}
	var img *metadata.Image
	var offset int64
	var err error
	if b.quorum != nil {
		img, offset, err = b.awaitQuorum()
	} else {
		img, offset, err = b.awaitFollower()
	}
	if err != nil {
		return err
	}
	if img, offset, err = b.importTopics(img, offset); err != nil {
		return err
	}
	if err := b.openLogs(img, offset); err != nil {
		return err
	}
	b.bg.Add(1)
	go b.followImages()
	if err := b.startLifecycle(); err != nil {
		return err
	}
	if err := b.awaitUnfenced(); err != nil {
		return err
	}
	b.requestProducerIDs()
	return nil
}

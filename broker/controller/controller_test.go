package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"runnel/broker/metadata"
	"runnel/broker/quorum"
	"runnel/io/disk/faultfs"
	"runnel/segment"
)

// fakeClock is the controllers' session clock, moved by the test.
type fakeClock struct{ ns atomic.Int64 }

func (f *fakeClock) now() time.Time          { return time.Unix(0, f.ns.Load()) }
func (f *fakeClock) advance(d time.Duration) { f.ns.Add(int64(d)) }

const sessionTimeout = time.Second

// testCluster is three controllers over a LocalNetwork, each in its own
// directory.
type testCluster struct {
	t       testing.TB
	net     *quorum.LocalNetwork
	clock   *fakeClock
	voters  []uint64
	roots   map[uint64]string      // each controller's data directory
	fss     map[uint64]*faultfs.FS // the crashable file system over it
	crashes int
	// configure, if set, changes each controller's Config before it starts.
	configure func(*Config)
	mu        sync.Mutex
	ctls      map[uint64]*Controller
	stores    map[uint64]*quorum.Storage
}

func newTestCluster(t testing.TB) *testCluster { return newTestClusterWith(t, nil) }

// newTestClusterWith is newTestCluster with each controller's Config
// changed by configure.
func newTestClusterWith(t testing.TB, configure func(*Config)) *testCluster {
	tc := &testCluster{t: t, net: quorum.NewLocalNetwork(), clock: &fakeClock{}, voters: []uint64{1, 2, 3}, configure: configure,
		roots: map[uint64]string{}, fss: map[uint64]*faultfs.FS{}, ctls: map[uint64]*Controller{}, stores: map[uint64]*quorum.Storage{}}
	tc.clock.ns.Store(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	for _, id := range tc.voters {
		tc.roots[id] = filepath.Join(t.TempDir(), fmt.Sprint("node", id))
		tc.start(id)
	}
	t.Cleanup(func() {
		for _, id := range tc.voters {
			tc.stop(id)
		}
	})
	return tc
}

var quiet = slog.New(slog.DiscardHandler)

// start starts controller id from its directory, over a crashable file
// system.
func (tc *testCluster) start(id uint64) {
	tc.t.Helper()
	tc.fss[id] = faultfs.NewCrashable(tc.roots[id])
	seg := segment.DefaultConfig()
	seg.SegmentBytes, seg.PreallocateBytes = 1<<20, 64<<10 // small files, quick crash clones
	seg.FS = tc.fss[id]
	s, err := quorum.Open(filepath.Join(tc.roots[id], quorum.Partition.DirName()), quorum.Options{Segment: seg, Logger: quiet})
	if err != nil {
		tc.t.Fatalf("controller %d: %v", id, err)
	}
	cfg := Config{
		Node: quorum.NodeConfig{ID: id, Voters: tc.voters, Storage: s, Transport: tc.net.Transport(id),
			TickInterval: 10 * time.Millisecond, ElectionTick: 20, HeartbeatTick: 2, SnapshotEvery: 25, CatchUpEntries: 5, Logger: quiet},
		SessionTimeout: sessionTimeout, SessionCheckInterval: 5 * time.Millisecond, Clock: tc.clock.now,
		Rand: rand.New(rand.NewPCG(id, 1)), Logger: quiet,
		Rules: Rules{
			TopicConfig: func(key, _ string) error {
				if key == "bogus" {
					return errors.New("unknown topic config bogus")
				}
				return nil
			},
			ListConfig: func(key string) bool { return key == "cleanup.policy" },
		},
	}
	if tc.configure != nil {
		tc.configure(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		tc.t.Fatalf("controller %d: %v", id, err)
	}
	tc.net.Attach(c.Node())
	tc.mu.Lock()
	tc.ctls[id], tc.stores[id] = c, s
	tc.mu.Unlock()
}

// stop stops controller id abruptly for its peers (what it wrote is
// durable: the quorum's storage syncs before it answers).
func (tc *testCluster) stop(id uint64) {
	tc.mu.Lock()
	c, s := tc.ctls[id], tc.stores[id]
	delete(tc.ctls, id)
	tc.mu.Unlock()
	if c == nil {
		return
	}
	tc.net.Detach(id)
	c.Close()
	s.Close()
}

// crash stops controller id and cuts its power: its directory is cloned as
// a crash leaves it (what was not synced is lost) and the next start uses
// the clone. The controller stops first because etcd's Raft panics when its
// storage fails a read, as every call does after CrashClone; the quorum's
// own tests crash a node mid-write.
func (tc *testCluster) crash(id uint64) {
	tc.t.Helper()
	tc.stop(id)
	tc.crashes++
	clone := filepath.Join(tc.t.TempDir(), fmt.Sprintf("node%d-crash%d", id, tc.crashes))
	if err := tc.fss[id].CrashClone(clone); err != nil {
		tc.t.Fatal(err)
	}
	tc.roots[id] = clone
}

func (tc *testCluster) running() []*Controller {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	var out []*Controller
	for _, id := range tc.voters {
		if c := tc.ctls[id]; c != nil {
			out = append(out, c)
		}
	}
	return out
}

// waitFor polls cond until it holds, failing the test after 10 s (the
// machine may be loaded: elections then take several rounds).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// active waits for the active controller.
func (tc *testCluster) active() *Controller {
	tc.t.Helper()
	var a *Controller
	defer func() {
		if a == nil {
			tc.dump()
		}
	}()
	waitFor(tc.t, "an active controller", func() bool {
		for _, c := range tc.running() {
			if c.Active() {
				a = c
				return true
			}
		}
		return false
	})
	return a
}

// dump logs each controller's Raft state, for a failed wait.
func (tc *testCluster) dump() {
	for _, c := range tc.running() {
		st := c.node.Status()
		var stopped error
		select {
		case <-c.node.Done():
			stopped = fmt.Errorf("stopped: %v", c.node.Err())
		default:
		}
		c.sm.Lock()
		tc.t.Logf("controller %d: %v term %d lead %d applied %d (term %d) hash %x %v", c.node.ID(), st.RaftState, st.GetTerm(), st.Lead,
			c.sm.appliedIndex, c.sm.appliedTerm, c.Image().Hash(), stopped)
		c.sm.Unlock()
	}
}

// converged waits until every running controller holds the same image as
// the active one, and returns it.
func (tc *testCluster) converged() *metadata.Image {
	tc.t.Helper()
	var img *metadata.Image
	ok := false
	defer func() {
		if !ok {
			tc.dump()
		}
	}()
	waitFor(tc.t, "the same image on every controller", func() bool {
		a := tc.active()
		img = a.Image()
		for _, c := range tc.running() {
			if c.Image().Hash() != img.Hash() {
				return false
			}
		}
		ok = true
		return true
	})
	return img
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func createReq(name string, partitions int32, rf int16) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 7
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	req.Topics = append(req.Topics, rt)
	return req
}

// register registers broker id in rack and heartbeats it until unfenced;
// it returns the broker epoch.
func (tc *testCluster) register(id int32, rack string) int64 {
	tc.t.Helper()
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID, req.Rack = id, kmsg.StringPtr(rack)
	req.IncarnationID = [16]byte{byte(id), 1}
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port = "PLAINTEXT", "127.0.0.1", uint16(9000+id)
	req.Listeners = append(req.Listeners, l)
	a := tc.active()
	resp := a.RegisterBroker(ctx(tc.t), req)
	if resp.ErrorCode != 0 {
		tc.t.Fatalf("registering broker %d: %v", id, kerr.ErrorForCode(resp.ErrorCode))
	}
	if b, _ := a.Image().Broker(id); !b.Fenced || b.Epoch != resp.BrokerEpoch {
		tc.t.Fatalf("broker %d after registering: %+v, want fenced at epoch %d", id, b, resp.BrokerEpoch)
	}
	hb := tc.heartbeat(a, id, resp.BrokerEpoch, a.AppliedOffset())
	if hb.ErrorCode != 0 || hb.IsFenced || !hb.IsCaughtUp {
		tc.t.Fatalf("heartbeat of broker %d: %+v", id, hb)
	}
	return resp.BrokerEpoch
}

func (tc *testCluster) heartbeat(c *Controller, id int32, epoch, offset int64) *kmsg.BrokerHeartbeatResponse {
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.BrokerID, req.BrokerEpoch, req.CurrentMetadataOffset = id, epoch, offset
	return c.BrokerHeartbeat(ctx(tc.t), req)
}

// TestControllerCreateTopicsOnAllNodes elects an active controller,
// registers three brokers in three racks, creates topics through it and
// checks that all three controllers hold the same image, that followers
// answer NOT_CONTROLLER, and that placement spreads replicas and leaders.
func TestControllerCreateTopicsOnAllNodes(t *testing.T) {
	tc := newTestCluster(t)
	a := tc.active()
	for _, c := range tc.running() {
		if c != a {
			resp := c.CreateTopics(ctx(t), createReq("nope", 1, 1))
			if resp.Topics[0].ErrorCode != kerr.NotController.Code {
				t.Fatalf("CreateTopics on a follower: %v, want NOT_CONTROLLER", kerr.ErrorForCode(resp.Topics[0].ErrorCode))
			}
		}
	}
	if resp := a.CreateTopics(ctx(t), createReq("early", 1, 1)); resp.Topics[0].ErrorCode != kerr.InvalidReplicationFactor.Code {
		t.Fatalf("CreateTopics without brokers: %v, want INVALID_REPLICATION_FACTOR", kerr.ErrorForCode(resp.Topics[0].ErrorCode))
	}
	for i, rack := range []string{"a", "b", "c"} {
		tc.register(int32(i+1), rack)
	}
	validate := createReq("spread", 6, 3)
	validate.ValidateOnly = true
	if st := a.CreateTopics(ctx(t), validate).Topics[0]; st.ErrorCode != 0 || st.NumPartitions != 6 {
		t.Fatalf("CreateTopics ValidateOnly: %+v", st)
	}
	if _, ok := a.Image().Topic("spread"); ok {
		t.Fatal("CreateTopics ValidateOnly created the topic")
	}
	resp := a.CreateTopics(ctx(t), createReq("spread", 6, 3))
	if st := resp.Topics[0]; st.ErrorCode != 0 || st.NumPartitions != 6 || st.ReplicationFactor != 3 || st.TopicID == [16]byte{} {
		t.Fatalf("CreateTopics: %+v", st)
	}
	for _, c := range []struct {
		req  *kmsg.CreateTopicsRequest
		code int16
	}{
		{createReq("spread", 1, 1), kerr.TopicAlreadyExists.Code},
		{createReq("spread_", 1, 1), 0},
		{createReq("spread.", 1, 1), kerr.InvalidTopicException.Code},
		{createReq("toomany", 1, 4), kerr.InvalidReplicationFactor.Code},
		{createReq("none", 0, 1), kerr.InvalidPartitions.Code},
	} {
		if got := a.CreateTopics(ctx(t), c.req).Topics[0].ErrorCode; got != c.code {
			t.Errorf("CreateTopics %q: %v, want %v", c.req.Topics[0].Topic, kerr.ErrorForCode(got), kerr.ErrorForCode(c.code))
		}
	}
	img := tc.converged()
	topic, ok := img.Topic("spread")
	if !ok {
		t.Fatal("topic spread missing from the image")
	}
	leaders := map[int32]int{}
	for p := range topic.Partitions() {
		if len(p.Replicas) != 3 || p.Leader != p.Replicas[0] || !slices.Equal(p.ISR, p.Replicas) {
			t.Errorf("partition %d: %+v", p.Partition, p)
		}
		leaders[p.Leader]++
	}
	if leaders[1] != 2 || leaders[2] != 2 || leaders[3] != 2 {
		t.Errorf("leaders per broker %v, want 2 each", leaders)
	}

	// Topics placed in one request balance against each other too.
	multi := createReq("m0", 1, 1)
	for _, name := range []string{"m1", "m2"} {
		multi.Topics = append(multi.Topics, createReq(name, 1, 1).Topics[0])
	}
	for _, st := range a.CreateTopics(ctx(t), multi).Topics {
		if st.ErrorCode != 0 {
			t.Fatalf("CreateTopics %s: %v", st.Topic, kerr.ErrorForCode(st.ErrorCode))
		}
	}
	preferred := map[int32]int{}
	for topic := range a.Image().Topics() {
		for p := range topic.Partitions() {
			preferred[p.Replicas[0]]++
		}
	}
	if counts := slices.Sorted(maps.Values(preferred)); len(counts) != 3 || counts[2]-counts[0] > 1 {
		t.Errorf("preferred leaders per broker %v, want within one of even", preferred)
	}

	// The other operations, and their effect on every node.
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = "spread", 9
	cp.Topics = append(cp.Topics, cpt)
	if got := a.CreatePartitions(ctx(t), cp).Topics[0].ErrorCode; got != 0 {
		t.Fatalf("CreatePartitions: %v", kerr.ErrorForCode(got))
	}
	if got := a.CreatePartitions(ctx(t), cp).Topics[0].ErrorCode; got != kerr.InvalidPartitions.Code {
		t.Fatalf("CreatePartitions to the same count: %v, want INVALID_PARTITIONS", kerr.ErrorForCode(got))
	}
	ac := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, "spread"
	op := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	op.Name, op.Value = "retention.ms", kmsg.StringPtr("1000")
	res.Configs = append(res.Configs, op)
	ac.Resources = append(ac.Resources, res)
	if got := a.IncrementalAlterConfigs(ctx(t), ac).Resources[0].ErrorCode; got != 0 {
		t.Fatalf("IncrementalAlterConfigs: %v", kerr.ErrorForCode(got))
	}
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.Version = 6
	spreadU, _ := a.Image().Topic("spread_")
	for _, target := range []struct {
		name string
		id   metadata.UUID
	}{{name: "missing"}, {id: spreadU.ID()}, {id: metadata.UUID{1}}} {
		d := kmsg.NewDeleteTopicsRequestTopic()
		if target.name != "" {
			d.Topic = kmsg.StringPtr(target.name)
		}
		d.TopicID = target.id
		dt.Topics = append(dt.Topics, d)
	}
	dresp := a.DeleteTopics(ctx(t), dt)
	if dresp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code || dresp.Topics[1].ErrorCode != 0 ||
		*dresp.Topics[1].Topic != "spread_" || dresp.Topics[2].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("DeleteTopics: %+v", dresp.Topics)
	}
	img = tc.converged()
	if topic, _ := img.Topic("spread"); topic.NumPartitions() != 9 {
		t.Errorf("spread has %d partitions, want 9", topic.NumPartitions())
	}
	spreadRes := metadata.ConfigResource{Type: metadata.ResourceTopic, Name: "spread"}
	if v, _ := img.Config(spreadRes, "retention.ms"); v != "1000" {
		t.Errorf("retention.ms = %q", v)
	}
	// AlterConfigs replaces the overrides: retention.ms goes back to its default.
	alter := kmsg.NewPtrAlterConfigsRequest()
	ar := kmsg.NewAlterConfigsRequestResource()
	ar.ResourceType, ar.ResourceName = kmsg.ConfigResourceTypeTopic, "spread"
	arc := kmsg.NewAlterConfigsRequestResourceConfig()
	arc.Name, arc.Value = "cleanup.policy", kmsg.StringPtr("compact")
	ar.Configs = append(ar.Configs, arc)
	alter.Resources = append(alter.Resources, ar)
	if got := a.AlterConfigs(ctx(t), alter).Resources[0].ErrorCode; got != 0 {
		t.Fatalf("AlterConfigs: %v", kerr.ErrorForCode(got))
	}
	// APPEND to a list; a bad key fails the whole resource.
	op.Name, op.Op, op.Value = "cleanup.policy", kmsg.IncrementalAlterConfigOpAppend, kmsg.StringPtr("delete")
	ac.Resources[0].Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{op}
	if got := a.IncrementalAlterConfigs(ctx(t), ac).Resources[0].ErrorCode; got != 0 {
		t.Fatalf("IncrementalAlterConfigs APPEND: %v", kerr.ErrorForCode(got))
	}
	bogus := op
	bogus.Name, bogus.Op = "bogus", kmsg.IncrementalAlterConfigOpSet
	ac.Resources[0].Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{op, bogus}
	if got := a.IncrementalAlterConfigs(ctx(t), ac).Resources[0].ErrorCode; got != kerr.InvalidConfig.Code {
		t.Fatalf("IncrementalAlterConfigs with a bad key: %v, want INVALID_CONFIG", kerr.ErrorForCode(got))
	}
	img = tc.converged()
	if got := maps.Collect(img.Configs(spreadRes)); !maps.Equal(got, map[string]string{"cleanup.policy": "compact,delete"}) {
		t.Errorf("configs after AlterConfigs and APPEND: %v", got)
	}
	if _, ok := img.Topic("spread_"); ok {
		t.Error("spread_ still exists")
	}
}

// TestControllerConcurrentCreatesOneWins creates one topic name from many
// goroutines at once: exactly one create succeeds.
func TestControllerConcurrentCreatesOneWins(t *testing.T) {
	tc := newTestCluster(t)
	tc.register(1, "")
	a := tc.active()
	codes := make([]int16, 8)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() { codes[i] = a.CreateTopics(ctx(t), createReq("race", 3, 1)).Topics[0].ErrorCode })
	}
	wg.Wait()
	won := 0
	for _, code := range codes {
		switch code {
		case 0:
			won++
		case kerr.TopicAlreadyExists.Code:
		default:
			t.Errorf("create: %v", kerr.ErrorForCode(code))
		}
	}
	if won != 1 {
		t.Fatalf("%d creates of one name succeeded, want 1 (codes %v)", won, codes)
	}
}

// TestControllerFencesSilentBroker stops heartbeating one of three brokers:
// after the session timeout it is fenced, the partitions it led move to
// another ISR member (or to no leader when it was the only one), and when
// it heartbeats again it is unfenced and leads its lone partitions again.
func TestControllerFencesSilentBroker(t *testing.T) {
	tc := newTestCluster(t)
	epochs := map[int32]int64{}
	for i, rack := range []string{"a", "b", "c"} {
		epochs[int32(i+1)] = tc.register(int32(i+1), rack)
	}
	a := tc.active()
	for _, topic := range []struct {
		name string
		rf   int16
	}{{"one", 1}, {"three", 3}} {
		if got := a.CreateTopics(ctx(t), createReq(topic.name, 6, topic.rf)).Topics[0].ErrorCode; got != 0 {
			t.Fatalf("CreateTopics %s: %v", topic.name, kerr.ErrorForCode(got))
		}
	}
	// Brokers 1 and 2 heartbeat half-way through broker 3's session.
	tc.clock.advance(sessionTimeout * 6 / 10)
	for _, id := range []int32{1, 2} {
		if hb := tc.heartbeat(a, id, epochs[id], a.AppliedOffset()); hb.ErrorCode != 0 || hb.IsFenced {
			t.Fatalf("heartbeat %d: %+v", id, hb)
		}
	}
	tc.clock.advance(sessionTimeout * 6 / 10)
	waitFor(t, "broker 3 fenced", func() bool { b, _ := a.Image().Broker(3); return b.Fenced })
	img := tc.converged()
	for _, id := range []int32{1, 2} {
		if b, _ := img.Broker(id); b.Fenced {
			t.Fatalf("broker %d fenced", id)
		}
	}
	check := func(name string, want func(p metadata.Partition) bool) {
		t.Helper()
		topic, _ := img.Topic(name)
		for p := range topic.Partitions() {
			if !want(p) {
				t.Errorf("%s-%d after fencing broker 3: %+v", name, p.Partition, p)
			}
		}
	}
	check("one", func(p metadata.Partition) bool {
		if p.Replicas[0] == 3 {
			return p.Leader == metadata.NoLeader && slices.Equal(p.ISR, []int32{3}) && p.LeaderEpoch == 1
		}
		return p.Leader == p.Replicas[0] && p.LeaderEpoch == 0
	})
	check("three", func(p metadata.Partition) bool {
		want := p.Replicas[0]
		if want == 3 {
			want = p.Replicas[1]
		}
		return p.Leader == want && !slices.Contains(p.ISR, 3) && len(p.ISR) == 2
	})

	// Broker 3 comes back with the same epoch and catches up.
	if hb := tc.heartbeat(a, 3, epochs[3]-1, a.AppliedOffset()); hb.ErrorCode != kerr.StaleBrokerEpoch.Code {
		t.Fatalf("heartbeat with a stale epoch: %+v", hb)
	}
	if hb := tc.heartbeat(a, 3, epochs[3], a.AppliedOffset()); hb.ErrorCode != 0 || hb.IsFenced {
		t.Fatalf("heartbeat of broker 3 coming back: %+v", hb)
	}
	img = tc.converged()
	check("one", func(p metadata.Partition) bool { return p.Leader == p.Replicas[0] })
}

// TestControllerReregistration: a new incarnation of a live broker is
// DUPLICATE_BROKER_REGISTRATION until the old session expires or it names
// the old epoch; then it gets a higher epoch and starts fenced.
func TestControllerReregistration(t *testing.T) {
	tc := newTestCluster(t)
	epoch := tc.register(1, "a")
	a := tc.active()
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID, req.IncarnationID = 1, [16]byte{9}
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port = "PLAINTEXT", "127.0.0.1", 9001
	req.Listeners = append(req.Listeners, l)
	bad := *req
	bad.BrokerID, bad.Listeners = 2, nil
	if resp := a.RegisterBroker(ctx(t), &bad); resp.ErrorCode != kerr.InvalidRegistration.Code {
		t.Fatalf("registration without a listener: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if resp := a.RegisterBroker(ctx(t), req); resp.ErrorCode != kerr.DuplicateBrokerRegistration.Code {
		t.Fatalf("new incarnation during a live session: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	req.PreviousBrokerEpoch = epoch
	resp := a.RegisterBroker(ctx(t), req)
	if resp.ErrorCode != 0 || resp.BrokerEpoch <= epoch {
		t.Fatalf("re-registration: %+v, want an epoch above %d", resp, epoch)
	}
	if b, _ := a.Image().Broker(1); !b.Fenced || b.IncarnationID != metadata.UUID(req.IncarnationID) {
		t.Fatalf("broker after re-registration: %+v", b)
	}
	if hb := tc.heartbeat(a, 1, resp.BrokerEpoch, -1); hb.IsCaughtUp || !hb.IsFenced {
		t.Fatalf("heartbeat of a broker that has not caught up: %+v", hb)
	}
}

// TestControllerRestartCatchesUp stops a follower, changes the metadata
// (past a snapshot), restarts it from its directory, and checks it holds
// the same image as the others.
func TestControllerRestartCatchesUp(t *testing.T) {
	tc := newTestCluster(t)
	tc.register(1, "")
	a := tc.active()
	var follower uint64
	for _, id := range tc.voters {
		if tc.ctls[id] != a {
			follower = id
		}
	}
	tc.stop(follower)
	for i := range 40 {
		if got := a.CreateTopics(ctx(t), createReq(fmt.Sprint("t", i), 2, 1)).Topics[0].ErrorCode; got != 0 {
			t.Fatalf("create t%d: %v", i, kerr.ErrorForCode(got))
		}
	}
	tc.start(follower)
	img := tc.converged()
	if img.NumTopics() != 40 {
		t.Fatalf("%d topics, want 40", img.NumTopics())
	}
}

// TestControllerFailoverLosesNoAcknowledgedCreate creates topics one after
// another through whichever controller is active while the active
// controller is stopped (and later restarted) again and again, records
// what each create answered, and checks the history: every topic whose
// create was acknowledged (or answered TOPIC_ALREADY_EXISTS on a retry)
// exists in the final image, which every controller holds, with the id the
// acknowledgement gave; every topic there was asked for.
func TestControllerFailoverLosesNoAcknowledgedCreate(t *testing.T) {
	tc := newTestCluster(t)
	tc.register(1, "")
	var (
		mu      sync.Mutex
		acked   []string
		ids     = map[string][16]byte{} // the id each acknowledgement gave
		unknown int
		done    = make(chan struct{})
		stop    atomic.Bool
	)
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 0; !stop.Load(); i++ {
			name := fmt.Sprint("f", i)
			for !stop.Load() {
				var a *Controller
				for _, c := range tc.running() {
					if c.Active() {
						a = c
					}
				}
				if a == nil {
					<-tick.C // no active controller yet
					continue
				}
				st := a.CreateTopics(ctx(t), createReq(name, 1, 1)).Topics[0]
				code := st.ErrorCode
				mu.Lock()
				if code == 0 {
					ids[name] = st.TopicID
				}
				switch code {
				case 0, kerr.TopicAlreadyExists.Code: // (a retry of one whose answer was lost)
					acked = append(acked, name)
				default:
					unknown++
				}
				mu.Unlock()
				if code == 0 || code == kerr.TopicAlreadyExists.Code {
					break
				}
			}
		}
	}()
	ackedSoFar := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	for round := range 3 {
		n := ackedSoFar()
		waitFor(t, "creates acknowledged", func() bool { return ackedSoFar() >= n+10 })
		a := tc.active()
		id := a.Node().ID()
		tc.crash(id)
		waitFor(t, "a new active controller", func() bool {
			for _, c := range tc.running() {
				if c.Active() {
					return true
				}
			}
			return false
		})
		tc.start(id)
		t.Logf("round %d: crashed and restarted controller %d", round, id)
	}
	n := ackedSoFar()
	waitFor(t, "creates after the last failover", func() bool { return ackedSoFar() >= n+10 })
	stop.Store(true)
	<-done
	img := tc.converged()
	mu.Lock()
	defer mu.Unlock()
	for _, name := range acked {
		topic, ok := img.Topic(name)
		if !ok {
			t.Errorf("acknowledged topic %s is missing", name)
		} else if id, ok := ids[name]; ok && topic.ID() != metadata.UUID(id) {
			t.Errorf("topic %s has id %v, its create answered %v", name, topic.ID(), metadata.UUID(id))
		}
	}
	attempted := len(acked) + unknown
	for topic := range img.Topics() {
		var i int
		if _, err := fmt.Sscanf(topic.Name(), "f%d", &i); err != nil || i > attempted {
			t.Errorf("topic %s was never asked for", topic.Name())
		}
	}
	t.Logf("%d creates acknowledged, %d with an unknown outcome, %d topics", len(acked), unknown, img.NumTopics())
}

// BenchmarkControllerCreateTopic creates one single-partition topic per
// iteration through the active controller of three voters on the local
// network, each fsyncing its log: the metadata commit latency.
func BenchmarkControllerCreateTopic(b *testing.B) {
	b.ReportAllocs()
	tc := newTestCluster(b)
	tc.register(1, "")
	a := tc.active()
	b.ResetTimer()
	for i := range b.N {
		if code := a.CreateTopics(context.Background(), createReq(fmt.Sprint("b", i), 1, 1)).Topics[0].ErrorCode; code != 0 {
			b.Fatalf("create: %v", kerr.ErrorForCode(code))
		}
	}
}

// appBlocker is a Transport that drops Raft's appends (and snapshots)
// while blocked: an elected leader then cannot commit an entry of its
// term, so it never becomes the active controller.
type appBlocker struct {
	quorum.Transport
	blocked *atomic.Bool
}

func (a appBlocker) Send(msgs []*pb.Message) {
	if a.blocked.Load() {
		msgs = slices.DeleteFunc(slices.Clone(msgs), func(m *pb.Message) bool {
			return m.GetType() == pb.MessageType_MsgApp || m.GetType() == pb.MessageType_MsgSnap
		})
	}
	a.Transport.Send(msgs)
}

// TestDescribeQuorumHighWatermarkUnknownUntilActive: a Raft leader that has
// not yet committed an entry of its own term answers DescribeQuorum with
// high watermark -1, as KRaft's does, not with its commit index, which may
// be below what the previous leader committed (a restarting voter that
// waited to apply it would open its logs against a stale image); once
// active it answers its commit index.
func TestDescribeQuorumHighWatermarkUnknownUntilActive(t *testing.T) {
	var blocked atomic.Bool
	tc := newTestClusterWith(t, func(cfg *Config) {
		cfg.Node.Transport = appBlocker{cfg.Node.Transport, &blocked}
	})
	tc.register(1, "")
	old := tc.active()
	oldTerm := old.node.Status().GetTerm()
	blocked.Store(true)
	tc.stop(old.node.ID())
	var leader *Controller
	waitFor(t, "a new Raft leader", func() bool {
		for _, c := range tc.running() {
			if st := c.node.Status(); st.RaftState == raft.StateLeader && st.GetTerm() > oldTerm {
				leader = c
				return true
			}
		}
		return false
	})
	describe := func() *kmsg.DescribeQuorumResponseTopicPartition {
		req := &kmsg.DescribeQuorumRequest{Topics: []kmsg.DescribeQuorumRequestTopic{{Topic: quorum.Partition.Topic,
			Partitions: []kmsg.DescribeQuorumRequestTopicPartition{{Partition: quorum.Partition.Partition}}}}}
		return &leader.DescribeQuorum(req).Topics[0].Partitions[0]
	}
	if leader.Active() {
		t.Fatal("the new leader is active though it cannot replicate")
	}
	if p := describe(); p.ErrorCode != 0 || p.HighWatermark != -1 {
		t.Fatalf("a leader not yet active answers error %d, high watermark %d; want 0, -1", p.ErrorCode, p.HighWatermark)
	}
	blocked.Store(false)
	waitFor(t, "the new leader active", leader.Active)
	if p := describe(); p.ErrorCode != 0 || p.HighWatermark < leader.AppliedOffset()+1 {
		t.Fatalf("the active controller answers error %d, high watermark %d; want 0, at least %d", p.ErrorCode, p.HighWatermark, leader.AppliedOffset()+1)
	}
}

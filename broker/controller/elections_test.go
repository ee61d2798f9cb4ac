package controller

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
)

// replicationCluster is a testCluster with brokers 1-3 registered (racks
// a, b, c) and their epochs, for the replication control tests.
type replicationCluster struct {
	*testCluster
	a      *Controller
	epochs map[int32]int64
}

func newReplicationCluster(t *testing.T) *replicationCluster {
	return newReplicationClusterWith(t, nil)
}

func newReplicationClusterWith(t *testing.T, configure func(*Config)) *replicationCluster {
	rc := &replicationCluster{testCluster: newTestClusterWith(t, configure), epochs: map[int32]int64{}}
	for i, rack := range []string{"a", "b", "c"} {
		rc.epochs[int32(i+1)] = rc.register(int32(i+1), rack)
	}
	rc.a = rc.active()
	return rc
}

// create creates topic with partitions of replicas, each list as given,
// and configs (key, value, ...).
func (rc *replicationCluster) create(topic string, replicas [][]int32, configs ...string) *metadata.Topic {
	rc.t.Helper()
	req := createReq(topic, -1, -1)
	for i, rs := range replicas {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = int32(i), rs
		req.Topics[0].ReplicaAssignment = append(req.Topics[0].ReplicaAssignment, ra)
	}
	for i := 0; i+1 < len(configs); i += 2 {
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = configs[i], kmsg.StringPtr(configs[i+1])
		req.Topics[0].Configs = append(req.Topics[0].Configs, cfg)
	}
	if got := rc.a.CreateTopics(ctx(rc.t), req).Topics[0].ErrorCode; got != 0 {
		rc.t.Fatalf("CreateTopics %s: %v", topic, kerr.ErrorForCode(got))
	}
	t, _ := rc.a.Image().Topic(topic)
	return t
}

func (rc *replicationCluster) partition(topic string, p int32) metadata.Partition {
	part, _ := rc.a.Image().Partition(topic, p)
	return part
}

// setISR makes the leader of topic-p set its ISR to isr.
func (rc *replicationCluster) setISR(topic string, p int32, isr ...int32) {
	rc.t.Helper()
	t, _ := rc.a.Image().Topic(topic)
	part := rc.partition(topic, p)
	sp := onePartition(rc.t, rc.a.AlterPartition(ctx(rc.t), alterReq(2, part.Leader, rc.epochs[part.Leader], t, part, isr...)))
	if sp.ErrorCode != 0 {
		rc.t.Fatalf("setting the ISR of %s-%d to %v: %v", topic, p, isr, kerr.ErrorForCode(sp.ErrorCode))
	}
}

// fence fences broker id at its request (WantFence), unfence unfences it.
func (rc *replicationCluster) fence(id int32) {
	rc.t.Helper()
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.BrokerID, req.BrokerEpoch, req.CurrentMetadataOffset, req.WantFence = id, rc.epochs[id], rc.a.AppliedOffset(), true
	if hb := rc.a.BrokerHeartbeat(ctx(rc.t), req); hb.ErrorCode != 0 || !hb.IsFenced {
		rc.t.Fatalf("fencing broker %d: %+v", id, hb)
	}
}

func (rc *replicationCluster) unfence(id int32) {
	rc.t.Helper()
	if hb := rc.heartbeat(rc.a, id, rc.epochs[id], rc.a.AppliedOffset()); hb.ErrorCode != 0 || hb.IsFenced {
		rc.t.Fatalf("unfencing broker %d: %+v", id, hb)
	}
}

// elect sends ElectLeaders v2 of type how for topic's partitions (topic
// "": every partition) and returns the errors by topic and partition.
func (rc *replicationCluster) elect(how int8, topic string, partitions ...int32) map[string]map[int32]int16 {
	rc.t.Helper()
	req := kmsg.NewPtrElectLeadersRequest()
	req.Version, req.ElectionType = 2, how
	if topic != "" {
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic, rt.Partitions = topic, partitions
		req.Topics = append(req.Topics, rt)
	}
	resp := rc.a.ElectLeaders(ctx(rc.t), req)
	if resp.ErrorCode != 0 {
		rc.t.Fatalf("ElectLeaders: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	out := map[string]map[int32]int16{}
	for _, st := range resp.Topics {
		out[st.Topic] = map[int32]int16{}
		for _, sp := range st.Partitions {
			out[st.Topic][sp.Partition] = sp.ErrorCode
		}
	}
	return out
}

// TestControllerElectLeadersPreferred: a preferred replica that is not in
// the ISR cannot lead; once back in it, a preferred election moves the
// leadership to it, after which the election is not needed (and left out
// of the answer for every partition).
func TestControllerElectLeadersPreferred(t *testing.T) {
	rc := newReplicationCluster(t)
	rc.create("p", [][]int32{{1, 2, 3}, {2, 3, 1}})
	rc.fence(1) // broker 2 leads partition 0, 1 leaves the ISRs
	rc.unfence(1)
	if p := rc.partition("p", 0); p.Leader != 2 || slices.Contains(p.ISR, 1) {
		t.Fatalf("p-0 after fencing broker 1: %+v", p)
	}
	got := rc.elect(electPreferred, "p", 0, 1, 7)
	want := map[int32]int16{0: kerr.PreferredLeaderNotAvailable.Code, 1: kerr.ElectionNotNeeded.Code, 7: kerr.UnknownTopicOrPartition.Code}
	if !maps.Equal(got["p"], want) {
		t.Fatalf("preferred election with broker 1 out of the ISR: %v, want %v", got, want)
	}
	if got := rc.elect(electPreferred, "nope", 0); got["nope"][0] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("preferred election of an unknown topic: %v", got)
	}
	rc.setISR("p", 0, 2, 3, 1)
	before := rc.partition("p", 0)
	if got := rc.elect(electPreferred, ""); !maps.Equal(got["p"], map[int32]int16{0: 0}) || len(got) != 1 {
		t.Fatalf("preferred election of every partition: %v, want p-0 only, elected", got)
	}
	if p := rc.partition("p", 0); p.Leader != 1 || p.LeaderEpoch != before.LeaderEpoch+1 || p.PartitionEpoch != before.PartitionEpoch+1 || !slices.Equal(p.ISR, before.ISR) {
		t.Fatalf("p-0 after the preferred election: %+v (was %+v)", p, before)
	}
	if got := rc.elect(electPreferred, ""); len(got) != 0 {
		t.Fatalf("preferred election of every partition, all led by their preferred replicas: %v, want nothing", got)
	}
	rc.converged()
}

// TestControllerElectLeadersUnclean: a partition whose only ISR member is
// fenced has no leader; an unclean election gives it the first available
// replica with an ISR of just that replica; one with no replica available
// is ELIGIBLE_LEADERS_NOT_AVAILABLE.
func TestControllerElectLeadersUnclean(t *testing.T) {
	rc := newReplicationCluster(t)
	rc.create("u", [][]int32{{1, 2, 3}, {2, 1, 3}})
	rc.setISR("u", 0, 1)
	rc.fence(1)
	if p := rc.partition("u", 0); p.Leader != metadata.NoLeader || !slices.Equal(p.ISR, []int32{1}) {
		t.Fatalf("u-0 after fencing its only ISR member: %+v", p)
	}
	got := rc.elect(electUnclean, "u", 0, 1)
	if want := map[int32]int16{0: 0, 1: kerr.ElectionNotNeeded.Code}; !maps.Equal(got["u"], want) {
		t.Fatalf("unclean election: %v, want %v", got, want)
	}
	if p := rc.partition("u", 0); p.Leader != 2 || !slices.Equal(p.ISR, []int32{2}) || p.LeaderEpoch != 2 {
		t.Fatalf("u-0 after the unclean election: %+v", p)
	}
	// Nobody left.
	rc.setISR("u", 0, 2)
	rc.fence(2)
	rc.fence(3)
	if got := rc.elect(electUnclean, "u", 0); got["u"][0] != kerr.EligibleLeadersNotAvailable.Code {
		t.Fatalf("unclean election without an available replica: %v", got)
	}
	rc.converged()
}

// TestControllerUncleanLeaderElectionConfig: with
// unclean.leader.election.enable a partition whose last ISR member is
// fenced gets an unclean leader at once; without it, it stays without one
// until the config is set.
func TestControllerUncleanLeaderElectionConfig(t *testing.T) {
	rc := newReplicationCluster(t)
	rc.create("dirty", [][]int32{{1, 2, 3}}, UncleanLeaderElectionKey, "true")
	rc.create("clean", [][]int32{{1, 2, 3}})
	rc.setISR("dirty", 0, 1)
	rc.setISR("clean", 0, 1)
	rc.fence(1)
	if p := rc.partition("dirty", 0); p.Leader != 2 || !slices.Equal(p.ISR, []int32{2}) {
		t.Fatalf("dirty-0 after fencing its only ISR member: %+v, want led by 2 with ISR [2]", p)
	}
	if p := rc.partition("clean", 0); p.Leader != metadata.NoLeader || !slices.Equal(p.ISR, []int32{1}) {
		t.Fatalf("clean-0 after fencing its only ISR member: %+v, want no leader", p)
	}
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "clean"
	op := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	op.Name, op.Op, op.Value = UncleanLeaderElectionKey, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("true")
	r.Configs = append(r.Configs, op)
	req.Resources = append(req.Resources, r)
	if got := rc.a.IncrementalAlterConfigs(ctx(t), req).Resources[0].ErrorCode; got != 0 {
		t.Fatalf("setting %s: %v", UncleanLeaderElectionKey, kerr.ErrorForCode(got))
	}
	if p := rc.partition("clean", 0); p.Leader != 2 || !slices.Equal(p.ISR, []int32{2}) {
		t.Fatalf("clean-0 once unclean elections are allowed: %+v, want led by 2 with ISR [2]", p)
	}

	// Nobody available: no leader, until a replica outside the ISR is
	// unfenced.
	rc.fence(3)
	rc.fence(2)
	if p := rc.partition("dirty", 0); p.Leader != metadata.NoLeader || !slices.Equal(p.ISR, []int32{2}) {
		t.Fatalf("dirty-0 with every replica fenced: %+v, want no leader, ISR [2]", p)
	}
	rc.unfence(3)
	if p := rc.partition("dirty", 0); p.Leader != 3 || !slices.Equal(p.ISR, []int32{3}) {
		t.Fatalf("dirty-0 once broker 3 is unfenced: %+v, want led by 3 with ISR [3]", p)
	}
	rc.converged()
}

// TestControllerRebalanceLeaders: the automatic rebalance, every check
// interval, gives a broker above the imbalance ratio back the leaderships
// it prefers, where it is in the ISR, and leaves the others.
func TestControllerRebalanceLeaders(t *testing.T) {
	rc := newReplicationClusterWith(t, func(c *Config) {
		c.Rebalance = RebalanceConfig{Enable: true, CheckInterval: 20 * time.Millisecond, Percentage: 10}
	})
	rc.create("r", [][]int32{{1, 2, 3}, {1, 3, 2}, {2, 1, 3}, {3, 1, 2}})
	rc.fence(1)
	rc.unfence(1)
	if p := rc.partition("r", 0); p.Leader == 1 {
		t.Fatalf("r-0 led by 1 though it left the ISR: %+v", p)
	}
	rc.setISR("r", 0, 2, 3, 1) // back in r-0's ISR, not in r-1's
	waitFor(t, "r-0 led by its preferred replica again", func() bool { return rc.partition("r", 0).Leader == 1 })
	if p := rc.partition("r", 1); p.Leader != 3 {
		t.Errorf("r-1 after the rebalance: %+v, want still led by 3 (1 is not in its ISR)", p)
	}
	for _, p := range []int32{2, 3} {
		if got := rc.partition("r", p); got.Leader != got.Replicas[0] || got.LeaderEpoch != 0 {
			t.Errorf("r-%d after the rebalance: %+v, want untouched", p, got)
		}
	}
	rc.converged()
}

// TestControllerControlledShutdown: a broker that wants to shut down
// loses its leaderships to other ISR members and its ISR places, stays
// unfenced but may not join an ISR or lead, and is let go (fenced,
// ShouldShutDown) once nothing is left to move and every other live broker
// has reported the metadata offset of that moment.
func TestControllerControlledShutdown(t *testing.T) {
	rc := newReplicationCluster(t)
	rc.create("s", [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}})
	rc.create("single", [][]int32{{1}})
	shutdown := func() *kmsg.BrokerHeartbeatResponse {
		req := kmsg.NewPtrBrokerHeartbeatRequest()
		req.BrokerID, req.BrokerEpoch, req.CurrentMetadataOffset, req.WantShutdown = 1, rc.epochs[1], rc.a.AppliedOffset(), true
		hb := rc.a.BrokerHeartbeat(ctx(t), req)
		if hb.ErrorCode != 0 {
			t.Fatalf("shutdown heartbeat: %v", kerr.ErrorForCode(hb.ErrorCode))
		}
		return hb
	}
	if hb := shutdown(); hb.ShouldShutdown || hb.IsFenced {
		t.Fatalf("first shutdown heartbeat: %+v, want the broker kept unfenced until its leaderships moved", hb)
	}
	for p := range int32(3) {
		if got := rc.partition("s", p); got.Leader == 1 || slices.Contains(got.ISR, 1) || len(got.ISR) != 2 {
			t.Errorf("s-%d after broker 1 began its controlled shutdown: %+v", p, got)
		}
	}
	if got := rc.partition("s", 0); got.Leader != 2 {
		t.Errorf("s-0 led by %d, want 2 (the next replica in the ISR)", got.Leader)
	}
	if got := rc.partition("single", 0); got.Leader != metadata.NoLeader || !slices.Equal(got.ISR, []int32{1}) {
		t.Errorf("single-0 after broker 1 began its controlled shutdown: %+v, want no leader, ISR [1]", got)
	}
	if b, _ := rc.a.Image().Broker(1); b.Fenced {
		t.Fatal("broker 1 fenced while its controlled shutdown runs")
	}
	s, _ := rc.a.Image().Topic("s")
	p := rc.partition("s", 1)
	if sp := onePartition(t, rc.a.AlterPartition(ctx(t), alterReq(2, p.Leader, rc.epochs[p.Leader], s, p, 1, 2, 3))); sp.ErrorCode != kerr.IneligibleReplica.Code {
		t.Errorf("adding a broker in controlled shutdown to an ISR: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	rc.create("later", [][]int32{{1, 2, 3}})
	rc.create("alone", [][]int32{{1}})
	if got := rc.partition("later", 0); got.Leader != 2 || !slices.Equal(got.ISR, []int32{2, 3}) {
		t.Errorf("a partition created while broker 1 shuts down: %+v, want led by 2 with ISR [2 3]", got)
	}
	if got := rc.partition("alone", 0); got.Leader != metadata.NoLeader || !slices.Equal(got.ISR, []int32{1}) {
		t.Errorf("a partition on broker 1 alone created while it shuts down: %+v, want no leader, ISR [1]", got)
	}
	// Nothing left to move, but brokers 2 and 3 have not reported the
	// offset yet.
	if hb := shutdown(); hb.ShouldShutdown {
		t.Fatalf("shutdown heartbeat before the others caught up: %+v", hb)
	}
	for _, id := range []int32{2, 3} {
		if hb := rc.heartbeat(rc.a, id, rc.epochs[id], rc.a.AppliedOffset()); hb.ErrorCode != 0 {
			t.Fatalf("heartbeat %d: %+v", id, hb)
		}
	}
	if hb := shutdown(); !hb.ShouldShutdown || !hb.IsFenced {
		t.Fatalf("shutdown heartbeat once the others caught up: %+v, want ShouldShutdown", hb)
	}
	if b, _ := rc.a.Image().Broker(1); !b.Fenced {
		t.Fatal("broker 1 not fenced after its controlled shutdown")
	}
	rc.converged()
}

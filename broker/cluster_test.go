package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/internal/wait"
)

// freePorts returns n ports free on loopback now.
func freePorts(t *testing.T, n int) []int {
	var lns []net.Listener
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// startCluster starts n combined brokers (process.roles=broker,controller)
// on loopback, each with its own log dir, their quorum over TCP on their
// controller listeners, and waits until every one is registered and
// unfenced in every image. "{node}" in an override is the node's id.
func startCluster(t *testing.T, n int, overrides ...string) []*Broker {
	ports := freePorts(t, 2*n)
	var voters []string
	for i := range n {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i, ports[n+i]))
	}
	clients := make([]net.Listener, n)
	cfgs := make([]Config, n)
	for i := range n {
		var err error
		if clients[i], err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", ports[i])); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := LoadConfig("", append([]string{
			fmt.Sprintf("node.id=%d", i),
			"process.roles=broker,controller",
			fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", ports[i], ports[n+i]),
			"controller.listener.names=CONTROLLER",
			"controller.quorum.voters=" + strings.Join(voters, ","),
			"runnel.cluster.id=3nodesInOneProcess00000",
			"log.dirs=" + t.TempDir(),
			"runnel.admin.listener=",
			"runnel.segment.preallocate.bytes=65536",
			"log.index.size.max.bytes=65536",
			"offsets.topic.num.partitions=3",
			"broker.heartbeat.interval.ms=200",
			"runnel.shutdown.timeout.ms=5000",
		}, nodeOverrides(overrides, i)...))
		if err != nil {
			t.Fatal(err)
		}
		cfgs[i] = cfg
	}
	brokers := make([]*Broker, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for i := range n {
		wg.Go(func() { brokers[i], errs[i] = New(cfgs[i], logger.With("test node", i)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, b := range brokers {
			if b != nil {
				b.Close()
			}
		}
		t.Fatal(err)
	}
	served := make(chan error, n)
	for i, b := range brokers {
		go func() { served <- b.Serve(clients[i]) }()
	}
	t.Cleanup(func() {
		for _, b := range brokers {
			if err := b.Close(); err != nil { // again for one a test closed: the first result
				t.Errorf("close: %v", err)
			}
		}
		for range brokers {
			if err := <-served; !errors.Is(err, ErrClosed) {
				t.Errorf("serve: %v", err)
			}
		}
	})
	wait.Until(t, 20*time.Second, "every broker serving and unfenced in every image", func() bool {
		for _, b := range brokers {
			if b.Addr() == nil || len(b.image().LiveBrokers()) != n {
				return false
			}
		}
		return true
	})
	return brokers
}

// nodeOverrides is overrides with "{node}" replaced by node's id.
func nodeOverrides(overrides []string, node int) []string {
	out := make([]string, len(overrides))
	for i, o := range overrides {
		out[i] = strings.ReplaceAll(o, "{node}", strconv.Itoa(node))
	}
	return out
}

// TestThreeCombinedBrokers: three brokers, each its own controller quorum
// voter over real TCP: a topic of 6 partitions created on one is spread
// over the three, shown with leaders in every broker's Metadata, the
// controller listeners answer Kafka requests too, and every broker holds
// the same image.
func TestThreeCombinedBrokers(t *testing.T) {
	brokers := startCluster(t, 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers[1].Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "spread", 6, 1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v", kerr.ErrorForCode(resp.Topics[0].ErrorCode))
	}
	// The broker that answered has applied it; the others follow.
	wait.Until(t, 10*time.Second, "every broker applied the topic", func() bool {
		for _, b := range brokers {
			if _, ok := b.image().Topic("spread"); !ok {
				return false
			}
		}
		return true
	})
	hosts := map[int32]int{}
	for i, b := range brokers {
		c, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()))
		if err != nil {
			t.Fatal(err)
		}
		md := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr("spread")
		md.Topics = append(md.Topics, mt)
		mresp, err := md.RequestWith(ctx, c)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(mresp.Brokers) != 3 {
			t.Errorf("broker %d lists %d brokers", i, len(mresp.Brokers))
		}
		if len(mresp.Topics) != 1 || len(mresp.Topics[0].Partitions) != 6 {
			t.Fatalf("broker %d: metadata %+v", i, mresp.Topics)
		}
		for _, p := range mresp.Topics[0].Partitions {
			if p.ErrorCode != 0 || p.Leader < 0 || len(p.Replicas) != 1 || p.Replicas[0] != p.Leader {
				t.Errorf("broker %d: partition %d: error %d leader %d replicas %v", i, p.Partition, p.ErrorCode, p.Leader, p.Replicas)
			}
			if i == 0 {
				hosts[p.Leader]++
			}
		}
	}
	// Spread over the three, 2 each: Place spreads each topic evenly
	// whatever the brokers already hold.
	if want := map[int32]int{0: 2, 1: 2, 2: 2}; !maps.Equal(hosts, want) {
		t.Errorf("leaders per broker %v, want %v", hosts, want)
	}
	for _, b := range brokers {
		mt, _ := b.image().Topic("spread")
		for p := range mt.Partitions() {
			local := b.topic("spread").partitionAt(p.Partition) != nil
			if local != (p.Replicas[0] == b.cfg.NodeID) {
				t.Errorf("broker %d holds partition %d: %v, replicas %v", b.cfg.NodeID, p.Partition, local, p.Replicas)
			}
		}
	}
	// The controller listener serves Kafka requests beside Raft: the
	// active voter answers a heartbeat of an unknown broker, the others
	// NOT_CONTROLLER.
	for _, b := range brokers {
		c, err := kgo.NewClient(kgo.SeedBrokers(b.controllerListenAddr()))
		if err != nil {
			t.Fatal(err)
		}
		hb := kmsg.NewPtrBrokerHeartbeatRequest()
		hb.BrokerID, hb.BrokerEpoch = 99, 1
		kresp, err := c.SeedBrokers()[0].Request(ctx, hb) // the controller listener serves no Metadata
		if err != nil {
			t.Fatalf("heartbeat over the controller listener of %d: %v", b.cfg.NodeID, err)
		}
		vresp, err := c.SeedBrokers()[0].Request(ctx, kmsg.NewPtrApiVersionsRequest())
		c.Close()
		if err == nil {
			var keys []int16
			for _, k := range vresp.(*kmsg.ApiVersionsResponse).ApiKeys {
				keys = append(keys, k.ApiKey)
			}
			if !slices.Equal(keys, slices.Sorted(maps.Keys(controllerListenerAPIs))) {
				t.Errorf("the controller listener of %d lists APIs %v, want %v", b.cfg.NodeID, keys, slices.Sorted(maps.Keys(controllerListenerAPIs)))
			}
		}
		if err != nil {
			t.Fatalf("heartbeat over the controller listener of %d: %v", b.cfg.NodeID, err)
		}
		hresp := kresp.(*kmsg.BrokerHeartbeatResponse)
		want := kerr.NotController.Code
		if b.quorum.ctrl.Active() {
			want = kerr.BrokerIDNotRegistered.Code
		}
		if hresp.ErrorCode != want {
			t.Errorf("heartbeat to %d (active %v): %v, want %v", b.cfg.NodeID, b.quorum.ctrl.Active(), kerr.ErrorForCode(hresp.ErrorCode), kerr.ErrorForCode(want))
		}
	}
	wait.Until(t, 10*time.Second, "equal images", func() bool {
		h := brokers[0].image().Hash()
		return brokers[1].image().Hash() == h && brokers[2].image().Hash() == h
	})
}

// TestThreeBrokersCreateOffsetsLazily: a cluster of several nodes creates
// __consumer_offsets on the first FindCoordinator, not at startup (where
// the first broker unfenced would take every partition), answering
// COORDINATOR_NOT_AVAILABLE meanwhile; its partitions, placed once the
// three are registered, spread the group coordinators over the three.
func TestThreeBrokersCreateOffsetsLazily(t *testing.T) {
	brokers := startCluster(t, 3, "offsets.topic.num.partitions=12")
	for _, b := range brokers {
		if _, ok := b.image().Topic(offsetsTopic); ok {
			t.Fatalf("broker %d: %s exists before any group asked for it", b.cfg.NodeID, offsetsTopic)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers[2].Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrFindCoordinatorRequest()
	for i := range 60 {
		req.CoordinatorKeys = append(req.CoordinatorKeys, fmt.Sprintf("group-%d", i))
	}
	first, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if c := first.Coordinators[0]; c.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Errorf("first FindCoordinator: %v (node %d), want COORDINATOR_NOT_AVAILABLE while the topic is created", kerr.ErrorForCode(c.ErrorCode), c.NodeID)
	}
	perBroker := map[int32]int{}
	wait.Until(t, 20*time.Second, "every group has a coordinator", func() bool {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		clear(perBroker)
		for _, c := range resp.Coordinators {
			if c.ErrorCode != 0 {
				return false
			}
			perBroker[c.NodeID]++
		}
		return true
	})
	if len(perBroker) != 3 {
		t.Errorf("coordinators per broker %v, want all three", perBroker)
	}
	leaders := map[int32]int{}
	offsets, _ := brokers[2].image().Topic(offsetsTopic) // the broker that answered
	for p := range offsets.Partitions() {
		leaders[p.Leader]++
	}
	if want := map[int32]int{0: 4, 1: 4, 2: 4}; !maps.Equal(leaders, want) {
		t.Errorf("%s leaders per broker %v, want %v", offsetsTopic, leaders, want)
	}
	// Each coordinator serves the partitions the image places on it.
	wait.Until(t, 10*time.Second, "each broker serves the groups of the partitions it leads", func() bool {
		for _, b := range brokers {
			for p := range offsets.Partitions() {
				if b.groups.Serves(p.Partition) != (p.Leader == b.cfg.NodeID) {
					return false
				}
			}
		}
		return true
	})
}

// TestSingleNodeRegistersItself: a one-node broker registers with its own
// controller and is unfenced before it serves, again with a new epoch after
// a restart, and names itself the controller.
func TestSingleNodeRegistersItself(t *testing.T) {
	d := startDataBroker(t, nil)
	var epochs []int64
	for round := range 2 {
		img := d.b.image()
		br, ok := img.Broker(d.b.cfg.NodeID)
		if !ok || br.Fenced || len(img.LiveBrokers()) != 1 {
			t.Fatalf("round %d: broker %d in the image: %+v %v, live %d", round, d.b.cfg.NodeID, br, ok, len(img.LiveBrokers()))
		}
		epochs = append(epochs, br.Epoch)
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(context.Background(), d.client())
		if err != nil {
			t.Fatal(err)
		}
		if resp.ControllerID != d.b.cfg.NodeID || len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != d.b.cfg.NodeID {
			t.Errorf("round %d: controller %d, brokers %+v", round, resp.ControllerID, resp.Brokers)
		}
		if round == 0 {
			d.restart()
		}
	}
	if epochs[1] <= epochs[0] {
		t.Errorf("broker epochs %v, want a higher one after the restart", epochs)
	}
}

// TestThreeBrokersFenceALostOne: a broker that stops heartbeating is fenced
// after broker.session.timeout.ms; the others then list it no more and
// report its partitions without a leader (LEADER_NOT_AVAILABLE), and every
// image agrees.
func TestThreeBrokersFenceALostOne(t *testing.T) {
	brokers := startCluster(t, 3, "broker.session.timeout.ms=1000")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := brokers[0].createTopic("lost", 6, 1, nil); err != nil {
		t.Fatal(err)
	}
	var lost *Broker                          // one that is not the active controller and holds a partition
	mt, _ := brokers[0].image().Topic("lost") // applied by brokers[0] before it answered
	for _, b := range brokers {
		for p := range mt.Partitions() {
			if !b.quorum.ctrl.Active() && p.Replicas[0] == b.cfg.NodeID {
				lost = b
			}
		}
	}
	if lost == nil {
		t.Fatal("no broker but the active controller holds a partition of the topic")
	}
	if err := lost.Close(); err != nil {
		t.Fatal(err)
	}
	var alive []*Broker
	for _, b := range brokers {
		if b != lost {
			alive = append(alive, b)
		}
	}
	wait.Until(t, 10*time.Second, "the lost broker fenced in the images of the others", func() bool {
		for _, b := range alive {
			br, ok := b.image().Broker(lost.cfg.NodeID)
			if !ok || !br.Fenced {
				return false
			}
		}
		return alive[0].image().Hash() == alive[1].image().Hash()
	})
	for _, b := range alive {
		c, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()))
		if err != nil {
			t.Fatal(err)
		}
		md := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr("lost")
		md.Topics = append(md.Topics, mt)
		resp, err := md.RequestWith(ctx, c)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Brokers) != 2 {
			t.Errorf("broker %d lists %d brokers, want 2", b.cfg.NodeID, len(resp.Brokers))
		}
		leaderless := 0
		for _, p := range resp.Topics[0].Partitions {
			if p.Replicas[0] == lost.cfg.NodeID {
				leaderless++
				if p.Leader != -1 || p.ErrorCode != kerr.LeaderNotAvailable.Code {
					t.Errorf("broker %d: partition %d of the lost broker: leader %d, %v", b.cfg.NodeID, p.Partition, p.Leader, kerr.ErrorForCode(p.ErrorCode))
				}
			} else if p.Leader != p.Replicas[0] || p.ErrorCode != 0 {
				t.Errorf("broker %d: partition %d: leader %d, replicas %v, %v", b.cfg.NodeID, p.Partition, p.Leader, p.Replicas, kerr.ErrorForCode(p.ErrorCode))
			}
		}
		if leaderless == 0 {
			t.Errorf("broker %d: no partition of the lost broker", b.cfg.NodeID)
		}
	}
}

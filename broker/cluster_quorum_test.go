package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/internal/wait"
)

func TestRaftTicks(t *testing.T) {
	for _, c := range []struct {
		timeout time.Duration
		tick    time.Duration
		ticks   int
	}{
		{time.Second, 100 * time.Millisecond, 10}, // Kafka's default: Runnel's fixed clock before
		{150 * time.Millisecond, 15 * time.Millisecond, 10},
		{5 * time.Millisecond, time.Millisecond, 5},
		{time.Millisecond, time.Millisecond, 2},
	} {
		tick, ticks := raftTicks(c.timeout)
		if tick != c.tick || ticks != c.ticks {
			t.Errorf("raftTicks(%v) = %v × %d, want %v × %d", c.timeout, tick, ticks, c.tick, c.ticks)
		}
	}
}

// TestElectionTimeoutSetsReelection: controller.quorum.election.timeout.ms
// is the quorum's: after the active controller's quorum member stops, the
// other two elect a new leader no sooner than about the timeout after its
// last heartbeat: with 150 ms in under 800 ms (Raft's fixed clock before,
// ten 100 ms ticks, took at least 900 ms), with 1500 ms in no less than
// about that. About: the last heartbeat left up to a tick (a tenth of the
// timeout) before the member stopped, and a follower's tenth tick comes
// nine to ten ticks after the heartbeat it had, so an election starts at
// least 8/10 of the timeout after the stop.
func TestElectionTimeoutSetsReelection(t *testing.T) {
	short := reelection(t, 150*time.Millisecond)
	long := reelection(t, 1500*time.Millisecond)
	t.Logf("re-election after the leader stopped: %v with a 150 ms election timeout, %v with 1500 ms", short, long)
	if short >= 800*time.Millisecond || short < 150*time.Millisecond*8/10 {
		t.Errorf("re-election took %v with a 150 ms election timeout, want [120 ms, 800 ms)", short)
	}
	if long < 1500*time.Millisecond*8/10 {
		t.Errorf("re-election took %v with a 1500 ms election timeout, want at least 1200 ms", long)
	}
}

// reelection starts three combined brokers with the given election timeout,
// closes the one whose controller leads the quorum and returns how long the
// other two took to agree on a new leader.
func reelection(t *testing.T, timeout time.Duration) time.Duration {
	brokers := startCluster(t, 3, fmt.Sprintf("controller.quorum.election.timeout.ms=%d", timeout.Milliseconds()))
	old := brokers[0].quorum.ctrl.Leader()
	if old == 0 {
		t.Fatal("no quorum leader known once the cluster is up")
	}
	var rest []*Broker
	for _, b := range brokers {
		if raftID(b.cfg.NodeID) != old {
			rest = append(rest, b)
		}
	}
	// The leader's node, closed; the time is taken when its quorum member
	// stops (its last heartbeat went out at most a tick before), not when
	// Close returns: Close goes on to close the logs, which on a loaded
	// machine took longer than part of the timeout (a 150 ms re-election
	// measured 118 ms).
	stopped := make(chan time.Time, 1)
	go func() {
		<-brokers[old-1].quorum.ctrl.Node().Done()
		stopped <- time.Now()
	}()
	if err := brokers[old-1].Close(); err != nil {
		t.Fatal(err)
	}
	start := <-stopped
	wait.Until(t, 20*time.Second, "a new quorum leader known to the other two", func() bool {
		l := rest[0].quorum.ctrl.Leader()
		return l != 0 && l != old && rest[1].quorum.ctrl.Leader() == l
	})
	return time.Since(start)
}

// TestCombinedNodeServesOnceUnfenced: a node with process.roles set, the
// only voter of its quorum, returns from New only once it is registered and
// unfenced in its image, so a CreateTopics sent as soon as it serves is
// placed on it (one such request 20 ms after the start was once answered
// INVALID_REPLICATION_FACTOR: every broker fenced).
func TestCombinedNodeServesOnceUnfenced(t *testing.T) {
	ports := freePorts(t, 2)
	cfg, _, err := LoadConfig("", []string{
		"node.id=1",
		"process.roles=broker,controller",
		fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", ports[0], ports[1]),
		"controller.listener.names=CONTROLLER",
		fmt.Sprintf("controller.quorum.voters=1@127.0.0.1:%d", ports[1]),
		"log.dirs=" + t.TempDir(),
		"runnel.admin.listener=",
		"runnel.segment.preallocate.bytes=65536",
		"log.index.size.max.bytes=65536",
		"offsets.topic.num.partitions=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	var served chan error // once it serves
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if served != nil {
			if err := <-served; !errors.Is(err, ErrClosed) {
				t.Errorf("serve: %v", err)
			}
		}
	})
	if br, ok := b.image().Broker(1); !ok || br.Fenced {
		t.Fatalf("broker 1 in the image when New returned: %+v, registered %v; want registered and unfenced", br, ok)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0]))
	if err != nil {
		t.Fatal(err)
	}
	served = make(chan error, 1)
	go func() { served <- b.Serve(ln) }()
	cl, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "at-once", 2, 1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 5000
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if st := resp.Topics[0]; st.ErrorCode != 0 {
		t.Fatalf("CreateTopics at once: %v (%v)", kerr.ErrorForCode(st.ErrorCode), st.ErrorMessage)
	}
}

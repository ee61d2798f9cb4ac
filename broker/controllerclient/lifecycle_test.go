package controllerclient

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
	"runnel/internal/wait"
)

// testBroker is a broker-only node as far as the cluster is concerned: a
// Follower for its image and a Lifecycle that reports its offset.
type testBroker struct {
	f  *Follower
	l  *Lifecycle
	mu sync.Mutex
	// states are the lifecycle states reported, in order.
	states []LifecycleState
}

func startBroker(t *testing.T, tq *testQuorum, c *Client, id int32) *testBroker {
	t.Helper()
	b := &testBroker{}
	var err error
	if b.f, err = StartFollower(FollowerConfig{Client: c, NodeID: id, ClusterID: "test-cluster", MaxWait: 100 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.f.Close)
	if b.l, err = StartLifecycle(LifecycleConfig{Controller: c, ClusterID: "test-cluster", NodeID: id, Listeners: listener(id), Rack: "rack-a",
		HeartbeatInterval: 50 * time.Millisecond, SessionTimeout: sessionTimeout, MetadataOffset: b.f.AppliedOffset, Logger: quiet,
		OnChange: func(s LifecycleState) {
			b.mu.Lock()
			b.states = append(b.states, s)
			b.mu.Unlock()
		}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.l.Close)
	return b
}

// fencedInImage reports whether the active controller's image holds broker
// id registered and fenced as want.
func fencedInImage(tq *testQuorum, id int32, want bool) bool {
	b, ok := tq.image().Broker(id)
	return ok && b.Fenced == want
}

func TestLifecycleRegistersFencesAfterSessionTimeoutAndUnfences(t *testing.T) {
	tq := newTestQuorum(t, 0)
	b := startBroker(t, tq, tq.client(), 4)
	wait.Until(t, 10*time.Second, "broker 4 unfenced", func() bool {
		s := b.l.State()
		return s.BrokerEpoch > 0 && s.CaughtUp && !s.Fenced && fencedInImage(tq, 4, false)
	})
	reg, _ := tq.image().Broker(4)
	if reg.Rack != "rack-a" || reg.IncarnationID != metadata.UUID(b.l.IncarnationID()) || len(reg.Listeners) != 1 || reg.Listeners[0].Port != 9004 {
		t.Fatalf("registration %+v", reg)
	}
	b.mu.Lock()
	first := b.states[0]
	b.mu.Unlock()
	if first.BrokerEpoch != reg.Epoch || !first.Fenced || first.CaughtUp {
		t.Fatalf("first state %+v: want registered, fenced, not caught up", first)
	}

	// Cut its heartbeats: the controller fences it after the session
	// timeout; heal: it is unfenced again, under the same registration.
	tq.dropHeartbeats.Store(4)
	cut := time.Now()
	wait.Until(t, 10*time.Second, "broker 4 fenced", func() bool { return fencedInImage(tq, 4, true) })
	if since := time.Since(cut); since < sessionTimeout/2 {
		t.Fatalf("fenced %v after the heartbeats stopped, before the session timeout %v", since, sessionTimeout)
	}
	tq.dropHeartbeats.Store(-1)
	wait.Until(t, 10*time.Second, "broker 4 unfenced again", func() bool {
		s := b.l.State()
		return fencedInImage(tq, 4, false) && !s.Fenced && s.BrokerEpoch == reg.Epoch
	})
}

func TestLifecycleRegistersAgainWhenItsEpochIsStale(t *testing.T) {
	tq := newTestQuorum(t, 0)
	c := tq.client()
	b := startBroker(t, tq, c, 4)
	wait.Until(t, 10*time.Second, "broker 4 unfenced", func() bool { return !b.l.State().Fenced })
	tq.dropHeartbeats.Store(4)
	wait.Until(t, 10*time.Second, "broker 4 fenced", func() bool { return fencedInImage(tq, 4, true) })

	// Another incarnation takes the id over once the session expired.
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID, req.ClusterID, req.IncarnationID, req.Listeners = 4, "test-cluster", [16]byte{0xee}, listener(4)
	resp, err := c.Request(testCtx(t), req)
	if err != nil || resp.(*kmsg.BrokerRegistrationResponse).ErrorCode != 0 {
		t.Fatalf("registering another incarnation: %v %+v", err, resp)
	}
	other := resp.(*kmsg.BrokerRegistrationResponse).BrokerEpoch

	// The lifecycle's heartbeats are now STALE_BROKER_EPOCH: it registers
	// again (DUPLICATE_BROKER_REGISTRATION until the other incarnation's
	// session expires) and is unfenced under its own incarnation.
	tq.dropHeartbeats.Store(-1)
	wait.Until(t, 15*time.Second, "broker 4 registered again", func() bool {
		s := b.l.State()
		reg, _ := tq.image().Broker(4)
		return s.BrokerEpoch > other && !s.Fenced && reg.IncarnationID == metadata.UUID(b.l.IncarnationID()) && !reg.Fenced
	})
	b.mu.Lock()
	defer b.mu.Unlock()
	if !slices.ContainsFunc(b.states, func(s LifecycleState) bool { return s.BrokerEpoch == -1 }) {
		t.Fatalf("states %+v: the lost registration was not reported", b.states)
	}
}

func TestLifecycleControlledShutdown(t *testing.T) {
	tq := newTestQuorum(t, 0)
	c := tq.client()
	b := startBroker(t, tq, c, 4)
	wait.Until(t, 10*time.Second, "broker 4 unfenced", func() bool { return fencedInImage(tq, 4, false) })
	createTopic(t, c, "led-by-4", 2)
	start := time.Now()
	b.l.Close()
	if took := time.Since(start); took > sessionTimeout {
		t.Fatalf("controlled shutdown took %v, as long as the timeout", took)
	}
	if s := b.l.State(); !s.ShuttingDown || !s.Fenced {
		t.Fatalf("state after Close %+v, want shutting down and fenced", s)
	}
	if !fencedInImage(tq, 4, true) {
		t.Fatal("the controller did not fence the broker that shut down")
	}
	for p := range 2 {
		if part, _ := tq.image().Partition("led-by-4", int32(p)); part.Leader != -1 {
			t.Fatalf("partition %d still led by %d", p, part.Leader)
		}
	}
}

func TestLifecycleCloseCutsShortARequestInFlight(t *testing.T) {
	c, err := New(Config{Voters: map[int32]string{1: "127.0.0.1:1"}, MinBackoff: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l, err := StartLifecycle(LifecycleConfig{Controller: c, NodeID: 4, Listeners: listener(4), SessionTimeout: time.Minute,
		MetadataOffset: func() int64 { return -1 }, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	l.Close()
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Close took %v while a registration waited for an unreachable controller", took)
	}
	if s := l.State(); s.BrokerEpoch != -1 || s.ShuttingDown {
		t.Fatalf("state %+v, want unregistered and no controlled shutdown", s)
	}
}

func TestLifecycleControlledShutdownTimesOut(t *testing.T) {
	tq := newTestQuorum(t, 0)
	c := tq.client()
	f := startFollower(t, c, 4, 0)
	l, err := StartLifecycle(LifecycleConfig{Controller: c, ClusterID: "test-cluster", NodeID: 4, Listeners: listener(4),
		HeartbeatInterval: 500 * time.Millisecond, SessionTimeout: 5 * time.Second, ShutdownTimeout: 300 * time.Millisecond,
		MetadataOffset: f.AppliedOffset, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "broker 4 unfenced", func() bool { return !l.State().Fenced })
	tq.dropHeartbeats.Store(4) // the controller never answers WantShutDown (within two heartbeat intervals)
	start := time.Now()
	l.Close()
	if took := time.Since(start); took < 300*time.Millisecond || took > 3*time.Second {
		t.Fatalf("Close took %v, want about the shutdown timeout of 300ms", took)
	}
}

// TestLifecycleControlledShutdownWithoutController: a controlled shutdown
// that no controller answers ends after two heartbeat intervals, not the
// whole shutdown timeout (the last brokers of a cluster stopping whole).
func TestLifecycleControlledShutdownWithoutController(t *testing.T) {
	tq := newTestQuorum(t, 0)
	c := tq.client()
	f := startFollower(t, c, 4, 0)
	l, err := StartLifecycle(LifecycleConfig{Controller: c, ClusterID: "test-cluster", NodeID: 4, Listeners: listener(4),
		HeartbeatInterval: 50 * time.Millisecond, SessionTimeout: 5 * time.Second, ShutdownTimeout: 10 * time.Second,
		MetadataOffset: f.AppliedOffset, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "broker 4 unfenced", func() bool { return !l.State().Fenced })
	tq.dropHeartbeats.Store(4) // no controller answers
	start := time.Now()
	l.Close()
	if took := time.Since(start); took < 100*time.Millisecond || took > 3*time.Second {
		t.Fatalf("Close took %v, want about two heartbeat intervals (100ms)", took)
	}
}

func TestLifecycleNewIncarnationNamingItsPreviousEpochRegistersAtOnce(t *testing.T) {
	tq := newTestQuorum(t, 0)
	c := tq.client()
	b := startBroker(t, tq, c, 4)
	wait.Until(t, 10*time.Second, "broker 4 unfenced", func() bool { return fencedInImage(tq, 4, false) })
	old := b.l.State().BrokerEpoch
	b.l.Close()
	closed := time.Now()

	// A new incarnation that names its previous epoch is registered at once,
	// though the old session has not expired (no DUPLICATE_BROKER_REGISTRATION).
	l, err := StartLifecycle(LifecycleConfig{Controller: c, ClusterID: "test-cluster", NodeID: 4, Listeners: listener(4),
		PreviousBrokerEpoch: old, HeartbeatInterval: 50 * time.Millisecond, SessionTimeout: sessionTimeout,
		MetadataOffset: b.f.AppliedOffset, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wait.Until(t, 10*time.Second, "the new incarnation registered", func() bool { return l.State().BrokerEpoch > old })
	if took := time.Since(closed); took >= sessionTimeout {
		t.Fatalf("registered %v after the clean shutdown, not before the old session expired", took)
	}
}

package group

import (
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/internal/wait"
)

// gatedStore is a memStore whose Replay waits while the gate is closed,
// so that a test sees a partition loading.
type gatedStore struct {
	*memStore
	mu   sync.Mutex
	gate chan struct{} // nil: open
}

func (s *gatedStore) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = make(chan struct{})
}

func (s *gatedStore) open() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

func (s *gatedStore) Replay(p int32, fn func([]byte) error) error {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return s.memStore.Replay(p, fn)
}

// groupIn returns a group name whose records go to partition p (other than
// avoid).
func groupIn(p int32, avoid string) string {
	for i := 0; ; i++ {
		if name := fmt.Sprintf("g%d", i); name != avoid && PartitionFor(name, testPartitions) == p {
			return name
		}
	}
}

// TestUnloadAndLoadAgain: a partition unloaded answers NOT_COORDINATOR for
// its groups (members waiting in JoinGroup too) and leaves the others
// served; loaded again, it answers COORDINATOR_LOAD_IN_PROGRESS until its
// replay is done, then serves its groups with their committed offsets and
// members.
func TestUnloadAndLoadAgain(t *testing.T) {
	e := &env{t: t, clock: newFakeClock(), store: newMemStore()}
	store := &gatedStore{memStore: e.store}
	cfg := DefaultConfig()
	cfg.Partitions, cfg.MinSessionTimeout, cfg.InitialRebalanceDelay, cfg.Clock = testPartitions, time.Second, 100*time.Millisecond, e.clock
	cfg.Logger = slog.New(slog.DiscardHandler)
	c, err := New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e.c = c

	ids, gen := e.stable("g", 1)
	code(t, "commit", e.commit("g", ids[0], gen, "t", map[int32]int64{0: 10, 1: 20}).Topics[0].Partitions[0].ErrorCode, nil)
	p := PartitionFor("g", testPartitions)
	other := groupIn((p+1)%testPartitions, "")
	code(t, "commit elsewhere", e.commit(other, "", -1, "t", map[int32]int64{0: 1}).Topics[0].Partitions[0].ErrorCode, nil)
	waiting := e.joinNew(groupIn(p, "g"), joinOpts{}) // in the initial rebalance delay

	c.Unload(p)
	if c.Serves(p) || !c.Serves((p+1)%testPartitions) {
		t.Fatalf("after Unload(%d): serves it %v, serves the next %v", p, c.Serves(p), c.Serves((p+1)%testPartitions))
	}
	code(t, "waiting join", recv(t, waiting).ErrorCode, kerr.NotCoordinator)
	code(t, "heartbeat", int16Of(e.heartbeat("g", ids[0], gen)), kerr.NotCoordinator)
	code(t, "commit", e.commit("g", ids[0], gen, "t", map[int32]int64{0: 11}).Topics[0].Partitions[0].ErrorCode, kerr.NotCoordinator)
	code(t, "offset fetch", c.FetchOffsets(kmsg.OffsetFetchRequestGroup{Group: "g"}).ErrorCode, kerr.NotCoordinator)
	code(t, "describe", c.DescribeGroup("g").ErrorCode, kerr.NotCoordinator)
	code(t, "join", recv(t, e.join("g", joinOpts{})).ErrorCode, kerr.NotCoordinator)
	code(t, "sync", recv(t, e.sync("g", ids[0], gen, nil)).ErrorCode, kerr.NotCoordinator)
	_, leaveErr := c.LeaveGroup("g", []Leaving{{MemberID: ids[0]}})
	code(t, "leave", int16Of(leaveErr), kerr.NotCoordinator)
	for _, lg := range c.ListGroups(nil, nil) {
		if lg.Group == "g" {
			t.Fatal("ListGroups lists a group of an unloaded partition")
		}
	}
	if got := e.fetched(c, other, "t"); got[0] != 1 {
		t.Fatalf("a group of a partition still served: offsets %v", got)
	}

	store.close()
	c.Load(p)
	code(t, "heartbeat while loading", int16Of(e.heartbeat("g", ids[0], gen)), kerr.CoordinatorLoadInProgress)
	code(t, "offset fetch while loading", c.FetchOffsets(kmsg.OffsetFetchRequestGroup{Group: "g"}).ErrorCode, kerr.CoordinatorLoadInProgress)
	if !c.Loading() {
		t.Fatal("Loading() is false while a partition loads")
	}
	store.open()
	wait.Until(t, 5*time.Second, "the partition loaded", func() bool { return !c.Loading() })
	if got, want := e.fetched(c, "g", "t"), map[int32]int64{0: 10, 1: 20}; !maps.Equal(got, want) {
		t.Fatalf("loaded again: offsets %v, want %v", got, want)
	}
	if err := e.heartbeat("g", ids[0], gen); err != nil {
		t.Fatalf("the member's heartbeat after the load: %v", err)
	}
}

// TestUnloadDuringLoad: a load abandoned by Unload serves nothing, and a
// later Load replays the partition again.
func TestUnloadDuringLoad(t *testing.T) {
	e := &env{t: t, clock: newFakeClock(), store: newMemStore()}
	store := &gatedStore{memStore: e.store}
	cfg := DefaultConfig()
	cfg.Partitions, cfg.Clock, cfg.Logger = testPartitions, e.clock, slog.New(slog.DiscardHandler)
	c, err := New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e.c = c
	code(t, "commit", e.commit("g", "", -1, "t", map[int32]int64{0: 5}).Topics[0].Partitions[0].ErrorCode, nil)
	p := PartitionFor("g", testPartitions)
	c.Unload(p)

	store.close()
	c.Load(p)
	c.Unload(p)
	store.open()
	// The abandoned loader finishes without serving: give it the chance
	// to (wrongly) do so, then check.
	c.Load(p)
	wait.Until(t, 5*time.Second, "the second load", func() bool { return !c.Loading() })
	if got := e.fetched(c, "g", "t"); got[0] != 5 {
		t.Fatalf("after load, unload, load: offsets %v", got)
	}
	c.Unload(p)
	code(t, "offset fetch after the last unload", c.FetchOffsets(kmsg.OffsetFetchRequestGroup{Group: "g"}).ErrorCode, kerr.NotCoordinator)
}

// TestOwnedAtStart: New loads only the partitions Config.Owned names.
func TestOwnedAtStart(t *testing.T) {
	e := newEnv(t)
	code(t, "commit", e.commit("g", "", -1, "t", map[int32]int64{0: 5}).Topics[0].Partitions[0].ErrorCode, nil)
	p := PartitionFor("g", testPartitions)
	e.c.Close()
	c := e.open(func(c *Config) { c.Owned = func(q int32) bool { return q != p } })
	code(t, "offset fetch", c.FetchOffsets(kmsg.OffsetFetchRequestGroup{Group: "g"}).ErrorCode, kerr.NotCoordinator)
	c.Load(p)
	wait.Until(t, 5*time.Second, "the load", func() bool { return !c.Loading() })
	if got := e.fetched(c, "g", "t"); got[0] != 5 {
		t.Fatalf("offsets %v", got)
	}
}

// int16Of is an error's code (0 for nil).
func int16Of(err *kerr.Error) int16 {
	if err == nil {
		return 0
	}
	return err.Code
}

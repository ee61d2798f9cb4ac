package controller

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAllocateProducerIDs hands out blocks to two brokers through failovers and a restart of
// every controller (which then starts from its snapshot and the log after it: snapshots are
// taken every 25 entries): the blocks are contiguous and never overlap, the first starts
// above the ids the registered brokers handed out before (node.id << 32), and a stale broker
// epoch gets none.
func TestAllocateProducerIDs(t *testing.T) {
	tc := newTestCluster(t)
	epochs := map[int32]int64{1: tc.register(1, ""), 2: tc.register(2, "")}
	next := int64(3) << 32 // above broker 2's own ids
	allocate := func(round, n int) {
		t.Helper()
		for i := range n {
			id := int32(1 + i%2)
			req := kmsg.NewPtrAllocateProducerIDsRequest()
			req.BrokerID, req.BrokerEpoch = id, epochs[id]
			var resp *kmsg.AllocateProducerIDsResponse
			waitFor(t, "an answer from the active controller", func() bool {
				resp = tc.active().AllocateProducerIDs(ctx(t), req)
				return resp.ErrorCode != kerr.NotController.Code
			})
			if resp.ErrorCode != 0 || resp.ProducerIDStart != next || resp.ProducerIDLen != ProducerIDBlockSize {
				t.Fatalf("round %d block %d for broker %d: %v start %d len %d, want start %d len %d", round, i, id,
					kerr.ErrorForCode(resp.ErrorCode), resp.ProducerIDStart, resp.ProducerIDLen, next, ProducerIDBlockSize)
			}
			next += ProducerIDBlockSize
		}
		if got := tc.converged().NextProducerID(); got != next {
			t.Fatalf("round %d: image's next producer id %d, want %d", round, got, next)
		}
	}
	allocate(0, 60)

	stale := kmsg.NewPtrAllocateProducerIDsRequest()
	stale.BrokerID, stale.BrokerEpoch = 1, epochs[1]-1
	if resp := tc.active().AllocateProducerIDs(ctx(t), stale); resp.ErrorCode != kerr.StaleBrokerEpoch.Code || resp.ProducerIDStart != -1 {
		t.Fatalf("stale epoch: %v start %d, want STALE_BROKER_EPOCH", kerr.ErrorForCode(resp.ErrorCode), resp.ProducerIDStart)
	}

	for round := 1; round <= 2; round++ { // failover: the active controller stops
		a := tc.active()
		for _, id := range tc.voters {
			if tc.ctls[id] == a {
				tc.stop(id)
				allocate(round, 10)
				tc.start(id)
			}
		}
	}

	for _, id := range tc.voters {
		tc.stop(id)
	}
	for _, id := range tc.voters {
		tc.start(id)
	}
	allocate(3, 10)
}

// TestFirstProducerIDsAboveEveryVoter: the first block starts above the ids
// every voter handed out on its own (node.id << 32) though only broker 0 is
// registered, as when the first of three combined nodes to be unfenced asks
// for its block before the others register.
func TestFirstProducerIDsAboveEveryVoter(t *testing.T) {
	tc := newTestCluster(t) // voters: node ids 0, 1, 2
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.BrokerID, req.BrokerEpoch = 0, tc.register(0, "")
	var resp *kmsg.AllocateProducerIDsResponse
	waitFor(t, "an answer from the active controller", func() bool {
		resp = tc.active().AllocateProducerIDs(ctx(t), req)
		return resp.ErrorCode != kerr.NotController.Code
	})
	if want := int64(3) << 32; resp.ErrorCode != 0 || resp.ProducerIDStart != want {
		t.Fatalf("first block: %v start %d, want start %d (above voter 2's own ids)", kerr.ErrorForCode(resp.ErrorCode), resp.ProducerIDStart, want)
	}
}

package controller

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
)

// ProducerIDBlockSize is how many producer ids one AllocateProducerIDs hands out, Kafka's
// ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE.
const ProducerIDBlockSize = 1000

// AllocateProducerIDs hands broker BrokerID the next block of ProducerIDBlockSize producer
// ids (KIP-730), as KRaft's ProducerIdControlManager: it commits a
// ProducerIDsRecord whose NextProducerID is the block's end, so no block is ever handed out
// twice, across restarts and failovers (the next start comes from the committed image). The
// sender's BrokerEpoch must be its registered one, else STALE_BROKER_EPOCH.
//
// The first block starts at (the highest node id of a registered broker or a voter + 1)
// << 32, not at 0: before this API, each broker handed out its node.id << 32 plus a counter
// of its own, so no id from the controller can be one a broker gave out before. The voters
// count though not registered yet: the first broker unfenced asks for its block at once,
// often before the others register (a cluster of three combined nodes got ids from 1 << 32,
// node 1's own, that way). A broker-only node registered later whose node.id is just above
// every other's is not covered. A new cluster just starts higher. (Kafka starts at 0; its
// ZooKeeper-era brokers allocated from the same counter.)
func (c *Controller) AllocateProducerIDs(ctx context.Context, req *kmsg.AllocateProducerIDsRequest) *kmsg.AllocateProducerIDsResponse {
	resp := req.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	errs := c.operate(ctx, 1, false, func(img *metadata.Image, _ int) ([]metadata.Record, error) {
		if b, ok := img.Broker(req.BrokerID); !ok || b.Epoch != req.BrokerEpoch {
			return nil, placementErr(kerr.StaleBrokerEpoch, "Broker %d's epoch %d is not its registered epoch.", req.BrokerID, req.BrokerEpoch)
		}
		start := firstProducerID(img, c.cfg.Node.Voters)
		if start > math.MaxInt64-ProducerIDBlockSize {
			return nil, placementErr(kerr.UnknownServerError, "Exhausted all producerIds as the next block's end producerId has exceeded the int64 type limit")
		}
		resp.ProducerIDStart, resp.ProducerIDLen = start, ProducerIDBlockSize
		return []metadata.Record{&metadata.ProducerIDsRecord{BrokerID: req.BrokerID, BrokerEpoch: req.BrokerEpoch,
			NextProducerID: start + ProducerIDBlockSize}}, nil
	})
	if resp.ErrorCode, _ = errorCode(errs[0]); resp.ErrorCode != 0 {
		resp.ProducerIDStart, resp.ProducerIDLen = -1, 0
	}
	return resp
}

// firstProducerID is where the next block starts: the image's next producer id, or, before
// the first block, above every id a registered broker or a voter (Raft ids) handed out on
// its own (AllocateProducerIDs).
func firstProducerID(img *metadata.Image, voters []uint64) int64 {
	if next := img.NextProducerID(); next > 0 {
		return next
	}
	var highest int32 = -1
	for _, b := range img.Brokers() {
		highest = max(highest, b.NodeID)
	}
	for _, v := range voters {
		highest = max(highest, nodeID(v))
	}
	return (int64(highest) + 1) << 32
}

package broker

// InitProducerId, versions 0 through 5, for idempotent producers: each call
// allocates a new producer id with epoch 0 (a producer bumping its epoch
// after an error, KIP-360, also gets a fresh id, as Kafka does without a
// transactional id). Runnel has no transactions: a transactional id is
// refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which clients treat
// as fatal instead of retrying.
//
// Producer ids must never be reused, across brokers, restarts and
// controller failovers, or a new producer would inherit an old one's
// sequence numbers. As Kafka's RPCProducerIdManager (KIP-730), a broker
// hands out ids from a block of 1000 the active controller allocated
// (AllocateProducerIds, controller.AllocateProducerIDs, committed to the
// metadata log); it asks for the next block once 90% of the current one is
// used, and, should a block run out before the next one came, answers
// COORDINATOR_LOAD_IN_PROGRESS (retriable) as Kafka does. A broker asks for
// its first block once unfenced.

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.InitProducerID.Int16(), minVersion: 0, maxVersion: 5, handle: handleInitProducerID})
}

func handleInitProducerID(b *Broker, req *request) *reply {
	r := req.msg.(*kmsg.InitProducerIDRequest)
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if r.TransactionalID != nil {
		b.logger.Info("refusing a transactional producer: Runnel does not support transactions", "transactional.id", *r.TransactionalID, "client", req.clientIDString())
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
	} else if id, ok := b.nextProducerID(); !ok {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
	} else {
		resp.ProducerID, resp.ProducerEpoch = id, 0
	}
	rep := newReply()
	rep.finish(resp)
	return rep
}

const (
	// producerIDPrefetch is the share of a block handed out when the next
	// one is asked for, Kafka's ProducerIdManager.PidPrefetchThreshold.
	producerIDPrefetch = 0.9
	// producerIDRetryBackoff is how long a broker waits after a failed
	// AllocateProducerIds before it asks again.
	producerIDRetryBackoff = 100 * time.Millisecond
)

// producerIDBlock is a block of producer ids from the controller: ids
// [next, end) are not handed out yet; prefetchAt is the id whose handing
// out asks for the next block.
type producerIDBlock struct{ next, end, prefetchAt int64 }

func (k producerIDBlock) empty() bool { return k.next >= k.end }

// producerIDBlocks are this broker's blocks of producer ids: the one it
// hands out from and the next one, once the controller gave it.
type producerIDBlocks struct {
	mu       sync.Mutex
	current  producerIDBlock
	next     producerIDBlock
	inFlight bool      // an AllocateProducerIds is under way
	retryAt  time.Time // after a failed one: no other before
	// failures limits the lines logged about failed requests, which every
	// InitProducerId may start while the controller is away.
	failures logLimiter
}

// nextProducerID hands out an id of the current block (moving on to the
// next block when it is used up); false when no block is available (one
// is asked for).
func (b *Broker) nextProducerID() (int64, bool) {
	p := &b.producerIDs
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current.empty() {
		p.current, p.next = p.next, producerIDBlock{}
	}
	if p.current.empty() {
		b.requestProducerIDsLocked()
		return -1, false
	}
	id := p.current.next
	p.current.next++
	if id == p.current.prefetchAt {
		b.requestProducerIDsLocked()
	}
	return id, true
}

// requestProducerIDs asks the controller for the next block, unless one
// is held or being asked for (a broker calls it once unfenced).
func (b *Broker) requestProducerIDs() {
	b.producerIDs.mu.Lock()
	defer b.producerIDs.mu.Unlock()
	b.requestProducerIDsLocked()
}

// requestProducerIDsLocked is requestProducerIDs with b.producerIDs.mu held.
func (b *Broker) requestProducerIDsLocked() {
	p := &b.producerIDs
	if p.inFlight || !p.next.empty() || time.Now().Before(p.retryAt) {
		return
	}
	p.inFlight = true
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		ctx, cancel := b.adminContext(0)
		defer cancel()
		b.allocateProducerIDs(ctx)
	}()
}

// allocateProducerIDs sends one AllocateProducerIds and keeps the block it
// answers as the next one.
func (b *Broker) allocateProducerIDs(ctx context.Context) {
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.BrokerID = b.cfg.NodeID
	b.registration.mu.Lock()
	req.BrokerEpoch = b.registration.state.BrokerEpoch
	b.registration.mu.Unlock()
	resp := b.controller().AllocateProducerIDs(ctx, req)
	p := &b.producerIDs
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inFlight = false
	start, n := resp.ProducerIDStart, int64(resp.ProducerIDLen)
	if resp.ErrorCode == 0 && start >= p.current.end && n > 0 && start <= 1<<63-1-n {
		p.next = producerIDBlock{next: start, end: start + n, prefetchAt: start + int64(float64(n)*producerIDPrefetch)}
		return
	}
	// Kafka's RPCProducerIdManager refuses a block below the current one too.
	now := time.Now()
	p.retryAt = now.Add(producerIDRetryBackoff)
	if p.failures.burst == 0 {
		p.failures.burst, p.failures.interval = closeLogBurst, closeLogInterval
	}
	if ok, suppressed := p.failures.allow(now); ok {
		b.logger.Warn("the controller allocated no producer id block", "err", kerr.ErrorForCode(resp.ErrorCode), "start", start, "len", n,
			"current_end", p.current.end, "broker_epoch", req.BrokerEpoch, "suppressed", suppressed)
	}
}

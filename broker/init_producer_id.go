package broker

// InitProducerId, versions 0 through 5, for idempotent producers: each call
// allocates a new producer id with epoch 0 (a producer bumping its epoch
// after an error, KIP-360, also gets a fresh id, as Kafka does without a
// transactional id). Runnel has no transactions: a transactional id is
// refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which clients treat
// as fatal instead of retrying.
//
// Producer ids must never be reused, even after a restart, or a new
// producer would inherit an old one's sequence numbers. Ids are handed out
// from blocks of producerIDBlock; before the first id of a block is given
// out, the start of the next block is written (atomically, fsynced) to
// producerIDsFile in the first log dir, so a restart resumes after the last
// block reserved.
//
// In a cluster every broker allocates from its own file, so the id handed
// out carries the broker's node.id in its high 32 bits (nodeProducerID):
// two brokers never give two producers the same id, which would share
// sequence numbers on every partition both write to. (Kafka's controller
// hands out blocks instead, KIP-730; ids below 2^32, given out before,
// stay unique as node.id 0's or older.)

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/io/disk"
)

func init() {
	registerAPI(apiHandler{key: kmsg.InitProducerID.Int16(), minVersion: 0, maxVersion: 5, handle: handleInitProducerID})
}

const (
	// producerIDsFile holds the first producer id not yet reserved.
	producerIDsFile = "runnel-producer-ids"
	// producerIDBlock ids are reserved with one durable write.
	producerIDBlock = 1000
)

func handleInitProducerID(b *Broker, req *request) *reply {
	r := req.msg.(*kmsg.InitProducerIDRequest)
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if r.TransactionalID != nil {
		b.logger.Info("refusing a transactional producer: Runnel does not support transactions", "transactional.id", *r.TransactionalID, "client", req.clientIDString())
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
	} else if id, err := producerIDsFor(b).next(); err != nil {
		b.logger.Error("allocating a producer id failed", "err", err)
		resp.ErrorCode = kerr.KafkaStorageError.Code
	} else {
		resp.ProducerID, resp.ProducerEpoch = nodeProducerID(b.cfg.NodeID, id), 0
	}
	rep := newReply()
	rep.finish(resp)
	return rep
}

// nodeProducerID is the producer id a broker hands out: its node.id in the
// high 32 bits, the id of its own allocator in the low 32 (4 billion
// producers per broker).
func nodeProducerID(node int32, local int64) int64 { return int64(node)<<32 | local&(1<<32-1) }

// producerIDAllocator hands out producer ids, reserving them in blocks
// persisted to a file.
type producerIDAllocator struct {
	path string
	mu   struct {
		sync.Mutex
		next, limit int64 // ids [next, limit) are reserved and unused
		loaded      bool
	}
}

// producerIDAllocators maps a producer-ids file path to its allocator, so
// that every broker over a log dir, including one restarted in the same
// process, shares the state of that dir's file.
//
// Broker core: this wants to be a field of Broker set up in New
// (producerIDs *producerIDAllocator); until then it lives here.
var producerIDAllocators sync.Map

func producerIDsFor(b *Broker) *producerIDAllocator {
	path := filepath.Join(b.cfg.LogDirs[0], producerIDsFile)
	if a, ok := producerIDAllocators.Load(path); ok {
		return a.(*producerIDAllocator)
	}
	a, _ := producerIDAllocators.LoadOrStore(path, &producerIDAllocator{path: path})
	return a.(*producerIDAllocator)
}

// next returns an id never handed out before by this log dir.
func (a *producerIDAllocator) next() (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.mu.loaded {
		start, err := readProducerIDsFile(a.path)
		if err != nil {
			return -1, err
		}
		a.mu.next, a.mu.limit, a.mu.loaded = start, start, true
	}
	if a.mu.next == a.mu.limit {
		limit := a.mu.limit + producerIDBlock
		if err := disk.WriteFileAtomic(a.path, []byte(strconv.FormatInt(limit, 10)+"\n"), 0o644); err != nil {
			return -1, fmt.Errorf("broker: reserving producer ids: %w", err)
		}
		a.mu.limit = limit
	}
	id := a.mu.next
	a.mu.next++
	return id, nil
}

// readProducerIDsFile returns the first id not reserved before; 0 when the
// file does not exist yet.
func readProducerIDsFile(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("broker: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("broker: %s: want a non-negative producer id, found %q", path, strings.TrimSpace(string(data)))
	}
	return n, nil
}

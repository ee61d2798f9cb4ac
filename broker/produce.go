package broker

// Produce, versions 3 through 13 (v0-v2 carry the old message formats; v13
// names topics by id).
//
// Each partition's records must be one RecordBatch v2 (as Kafka requires
// from v3 on) no larger than the topic's max.message.bytes. The handler
// appends where it runs (the std transport's reader goroutine, the epoll
// transport's event loop, or for a request of offLoopProduceBytes or more a
// goroutine of its own): segment.ValidateProducerBatch
// validates the batch (CRC-32C, lengths, counts, the records inside),
// segment.Log.Append checks the idempotent producer's sequence, stamps the
// offsets (and LogAppendTime if the topic says so) in place and copies the
// bytes once into the segment, so the request buffer is not needed once the
// handler returns.
//
// acks=0 gets no response; when one of its partitions fails, the
// connection is closed after the responses before it are written, as Kafka
// does, so that the producer notices (and refreshes its metadata). acks=1 is
// answered once the bytes are in the segment. acks=all under the durable
// flush policy is answered from the flusher's callback once every
// partition's append is on disk, so the connection keeps reading and
// starting requests meanwhile; acks 0 and 1 ask for the same group-commit
// flush without waiting for it, since consumers see only flushed records.
// Under the interval policy acks=all is answered like acks=1: the data is
// flushed by count and time (flush.messages, flush.ms) as in Kafka.
//
// A partition with several replicas (replication.go) is appended to as
// its replica.Leader's leadership, stamped with its leader epoch; acks=all
// is refused NOT_ENOUGH_REPLICAS before the append when the ISR is smaller
// than min.insync.replicas, and answered once the high watermark reaches
// the append's end (every ISR member has it; under the durable policy the
// leader's own copy is synced), NOT_ENOUGH_REPLICAS_AFTER_APPEND when the
// ISR has shrunk below min.insync.replicas by then, NOT_LEADER_OR_FOLLOWER
// when the leadership ends first, REQUEST_TIMED_OUT when the request's
// timeout comes first (Kafka's DelayedProduce).
//
// Errors are per partition: NOT_LEADER_OR_FOLLOWER for a partition the
// metadata image places on another broker (with its leader from v10:
// routing.go), UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION
// (internal topics, except for the client id __admin_client), MESSAGE_TOO_LARGE
// (max.message.bytes), CORRUPT_MESSAGE (CRC), INVALID_RECORD (lengths, more
// than one batch, control batches, records that do not decode), UNSUPPORTED_FOR_MESSAGE_FORMAT (magic 0
// and 1), OUT_OF_ORDER_SEQUENCE_NUMBER and INVALID_PRODUCER_EPOCH
// (idempotent producers; a duplicate of one of a producer's last five batches
// is answered with its original offsets), INVALID_REQUIRED_ACKS. Runnel has
// no transactions: a transactional request or batch is refused with
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as InitProducerId refuses a
// transactional id.

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
	"runnel/broker/replica"
	"runnel/io/flush"
	"runnel/segment"
)

func init() {
	registerAPI(apiHandler{key: kmsg.Produce.Int16(), minVersion: 3, maxVersion: 13, handle: handleProduce})
}

func handleProduce(b *Broker, req *request) *reply {
	r := req.msg.(*kmsg.ProduceRequest)
	resp := r.ResponseKind().(*kmsg.ProduceResponse)
	w := &produceWait{reply: newReply(), resp: resp, acks: r.Acks}
	w.pending.Store(1) // the handler's own reference, dropped at the end

	waitDurable := r.Acks == -1 && b.cfg.FlushPolicy == flush.Durable
	closing := false // an acks=0 produce failed: the connection is closing
	img := b.image()
	var leaders []int32 // of partitions led elsewhere, for NodeEndpoints
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(r.Topics))
	for i := range r.Topics {
		rt := &r.Topics[i]
		st := &resp.Topics[i]
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		it := imageTopic(img, rt.Topic, rt.TopicID, r.Version >= 13)
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset = -1
			p, leader, end, err := produceOne(b, req, it, rt, rp, sp)
			if err != nil {
				sp.ErrorCode = errCode(err)
				if err == errNotLeader {
					leaders = addLeader(leaders, sp.CurrentLeader.LeaderID)
				}
				msg := err.Error()
				sp.ErrorMessage = &msg // v8+
				// A full disk and an offline log dir are logged by the log dir, once per change, not per request.
				if (sp.ErrorCode == kerr.UnknownServerError.Code || sp.ErrorCode == kerr.KafkaStorageError.Code) && !loggedElsewhere(err) {
					b.logger.Error("produce failed", "topic", rt.Topic, "partition", rp.Partition, "err", err)
				}
				if r.Acks == 0 && !closing {
					closing = true
					req.conn.logger.Info("closing the connection of an acks=0 producer whose produce failed", "topic", rt.Topic, "partition", rp.Partition, "err", err)
					req.conn.shutdown()
				}
				continue
			}
			switch {
			case leader != nil:
				b.awaitReplicas(w, sp, p, leader, end, r.Acks == -1)
			case waitDurable:
				w.pending.Add(1)
				p.flusher.Wait(p.log, end, func(err error) { w.durable(sp, err) })
			case b.cfg.FlushPolicy == flush.Durable:
				// acks 0 and 1 do not wait, but under the durable policy
				// consumers see only flushed data: ask for a flush (gathered
				// with other partitions' when many are written; a failed
				// sync is reported to the waiters that wait, and logged).
				p.flusher.SyncSoon(p.log, end)
			}
		}
	}
	if r.Version >= 10 {
		b.eachEndpoint(img, leaders, func(id int32, host string, port int32, rack *string) {
			resp.Brokers = append(resp.Brokers, kmsg.ProduceResponseBroker{NodeID: id, Host: host, Port: port, Rack: rack})
		})
	}
	if len(w.replicaWaits) > 0 {
		// As Kafka's DelayedProduce: what the high watermark has not
		// reached in time is answered REQUEST_TIMED_OUT.
		w.timer = time.AfterFunc(time.Duration(max(r.TimeoutMillis, 0))*time.Millisecond, w.expire)
	}
	w.release()
	return w.reply
}

// produceOne appends one partition's records and fills in its response; it
// returns the partition and the end offset (exclusive) of the append for the
// acks=all wait. it is the topic in the metadata image (nil: not there); a
// partition it places elsewhere is errNotLeader, with the current leader
// in sp from v10 (KIP-951).
func produceOne(b *Broker, req *request, it *metadata.Topic, rt *kmsg.ProduceRequestTopic, rp *kmsg.ProduceRequestTopicPartition, sp *kmsg.ProduceResponseTopicPartition) (*partition, *replica.Leader, int64, error) {
	r := req.msg.(*kmsg.ProduceRequest)
	if r.Acks != 0 && r.Acks != 1 && r.Acks != -1 {
		return nil, nil, 0, kerr.InvalidRequiredAcks
	}
	if r.TransactionID != nil {
		return nil, nil, 0, errTransactionsUnsupported
	}
	hint, elsewhere := b.ledElsewhere(it, rp.Partition)
	if elsewhere {
		if r.Version >= 10 {
			sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = hint.leader, hint.epoch
		}
		return nil, nil, 0, errNotLeader
	}
	var p *partition
	var err error
	if r.Version >= 13 {
		p, err = b.partitionByID(rt.TopicID, rp.Partition)
	} else {
		p, err = b.partition(rt.Topic, rp.Partition)
	}
	if err != nil {
		return nil, nil, 0, err
	}
	if isInternalTopic(p.topic) && req.clientIDString() != adminClientID {
		// The group coordinator replays __consumer_offsets: records a
		// client slips in would become committed offsets.
		return nil, nil, 0, fmt.Errorf("%w: clients may not produce to the internal topic %s", kerr.InvalidTopicException, p.topic)
	}
	settings := p.config()
	h, err := checkProduceBatch(rp.Records, settings.maxMessageBytes, settings.log.Compact)
	if err != nil {
		return nil, nil, 0, err
	}
	opts := segment.AppendOptions{LeaderEpoch: hint.epoch}
	if settings.logAppendTime {
		opts.LogAppendTime = time.Now().UnixMilli()
	}
	var leader *replica.Leader
	if p.replicated.Load() {
		// Appended as this node's leadership, which checks acks=all's
		// min.insync.replicas first and stamps its own epoch.
		if leader = p.leaderState(); leader == nil {
			return nil, nil, 0, errNotLeader
		}
		if r.Acks == -1 {
			if err := leader.EnoughReplicas(settings.minISR); err != nil {
				return nil, nil, 0, err
			}
		}
		opts.LeaderEpoch = leader.LeaderEpoch()
		if !leader.BeginAppend() {
			return nil, nil, 0, errNotLeader
		}
	}
	info, err := p.log.Append(rp.Records, opts)
	if leader != nil {
		leader.EndAppend()
	}
	if err != nil {
		return nil, nil, 0, err
	}
	if !info.Duplicate && b.cfg.FlushPolicy != flush.Durable {
		// Under the durable policy Appended only marks the log dirty for
		// the flusher's Close, and the handler's Wait that follows every
		// append (acks=all's, or the flush that acks 0 and 1 ask for) has
		// the next sync cover it: one lock and map lookup of the flusher
		// fewer per partition per request.
		p.flusher.Appended(p.log, int64(h.RecordCount))
	}
	sp.BaseOffset = info.FirstOffset
	if info.LogAppendTime > 0 {
		sp.LogAppendTime = info.LogAppendTime
	}
	sp.LogStartOffset = p.log.StartOffset()
	return p, leader, info.LastOffset + 1, nil
}

// adminClientID is the client id that may produce to internal topics, as
// in Kafka (for repair tools).
const adminClientID = "__admin_client"

// errTransactionsUnsupported refuses transactional produce requests and
// batches: there is no transaction coordinator.
var errTransactionsUnsupported = fmt.Errorf("%w: Runnel does not support transactions", kerr.TransactionalIDAuthorizationFailed)

// checkProduceBatch applies Kafka's produce rules that the storage layer
// leaves to the broker: exactly one batch, no larger than maxMessageBytes,
// neither transactional nor a control batch (from the header), then the CRC
// and every record inside (segment.ValidateProducerBatch; a compacted
// topic's records must have keys). segment.Log.Append checks the headers
// and CRC again, as it does for every append.
func checkProduceBatch(records []byte, maxMessageBytes int32, compacted bool) (segment.BatchHeader, error) {
	h, err := segment.ParseBatchHeader(records)
	if err != nil {
		if len(records) == 0 {
			return h, fmt.Errorf("%w: no record batch", kerr.InvalidRecord)
		}
		return h, err
	}
	switch {
	case h.Size() > int(maxMessageBytes):
		return h, fmt.Errorf("%w: batch of %d bytes, max.message.bytes is %d", kerr.MessageTooLarge, h.Size(), maxMessageBytes)
	case h.Size() > len(records):
		return h, fmt.Errorf("%w: batch of %d bytes, %d sent", segment.ErrShortBatch, h.Size(), len(records))
	case h.Size() < len(records):
		return h, fmt.Errorf("%w: more than one record batch", kerr.InvalidRecord)
	case h.IsTransactional():
		return h, errTransactionsUnsupported
	case h.IsControl():
		return h, fmt.Errorf("%w: clients may not produce control batches", kerr.InvalidRecord)
	}
	// The records inside, as Kafka's LogValidator: a batch with a valid
	// CRC but broken records would otherwise be stored and served.
	if compacted {
		return segment.ValidateCompactedProducerBatch(records)
	}
	return segment.ValidateProducerBatch(records)
}

// produceWait collects the acks=all flush callbacks of one produce request
// and finishes its reply when the last one has come in.
type produceWait struct {
	reply   *reply
	resp    *kmsg.ProduceResponse
	acks    int16
	pending atomic.Int32
	// replicaWaits are the waits of replicated partitions (set by the
	// handler), which timer, when set, ends at the request's timeout.
	replicaWaits []*replicaWait
	timer        *time.Timer
}

// replicaWait is one replicated partition's acks=all wait: answered once,
// by its leader, a failed sync or the request's timeout.
type replicaWait struct {
	w        *produceWait
	sp       *kmsg.ProduceResponseTopicPartition
	answered atomic.Bool
}

// durable is the flusher's callback for one partition: its append is on
// disk, or the sync failed (the append's offsets are then withdrawn: the
// client retries, and an idempotent producer's retry is deduplicated).
func (w *produceWait) durable(sp *kmsg.ProduceResponseTopicPartition, err error) {
	if err != nil {
		sp.ErrorCode = flushErrCode(err)
		sp.BaseOffset = -1
	}
	w.release()
}

// flushErrCode maps a failed flush wait: the partition was deleted
// meanwhile (UNKNOWN_TOPIC_OR_PARTITION), the broker is shutting down
// (NOT_LEADER_OR_FOLLOWER, which clients retry), or the sync failed.
// (Broker core: these two could join errCode.)
func flushErrCode(err error) int16 {
	switch {
	case errors.Is(err, flush.ErrForgotten):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, flush.ErrClosed):
		return kerr.NotLeaderForPartition.Code
	}
	return errCode(err)
}

// awaitReplicas is the wait of a replicated partition's append (ending at
// end) as leader: under the durable policy each flush advances the high
// watermark (the leader counts at its flushed offset); acks=all waits for
// the high watermark to reach end, the partition's min.insync.replicas
// checked then (replica.Leader.Wait). A failed sync answers the acks=all
// produce with its error.
func (b *Broker) awaitReplicas(w *produceWait, sp *kmsg.ProduceResponseTopicPartition, p *partition, leader *replica.Leader, end int64, all bool) {
	if !all {
		if b.cfg.FlushPolicy == flush.Durable {
			p.flusher.Wait(p.log, end, leader.Flushed)
		} else {
			leader.Advance()
		}
		return
	}
	minISR := p.config().minISR
	rw := &replicaWait{w: w, sp: sp}
	w.replicaWaits = append(w.replicaWaits, rw)
	w.pending.Add(1)
	if b.cfg.FlushPolicy != flush.Durable {
		leader.Advance()
		leader.Wait(end, minISR, rw.replicated)
		return
	}
	p.flusher.Wait(p.log, end, func(err error) {
		if err != nil {
			rw.answer(flushErrCode(err), false)
			return
		}
		leader.Advance()
		leader.Wait(end, minISR, rw.replicated)
	})
}

// replicated is the leader's answer: the append reached the high
// watermark, or failed to (NOT_ENOUGH_REPLICAS_AFTER_APPEND keeps its
// offsets, as Kafka's; NOT_LEADER_OR_FOLLOWER withdraws them).
func (rw *replicaWait) replicated(err error) {
	if err == nil {
		rw.answer(0, true)
		return
	}
	rw.answer(errCode(err), errors.Is(err, kerr.NotEnoughReplicasAfterAppend))
}

// answer sets the partition's error code, withdrawing its offsets unless
// keep, and drops the wait's reference: the first answer only.
func (rw *replicaWait) answer(code int16, keep bool) {
	if !rw.answered.CompareAndSwap(false, true) {
		return
	}
	if code != 0 {
		rw.sp.ErrorCode = code
		if !keep {
			rw.sp.BaseOffset = -1
		}
	}
	rw.w.release()
}

// expire answers the waits still open REQUEST_TIMED_OUT.
func (w *produceWait) expire() {
	for _, rw := range w.replicaWaits {
		rw.answer(kerr.RequestTimedOut.Code, false)
	}
}

// release drops one reference; the last one finishes the reply.
func (w *produceWait) release() {
	if w.pending.Add(-1) != 0 {
		return
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	if w.acks == 0 {
		w.reply.finishNone()
		return
	}
	w.reply.finish(w.resp)
}

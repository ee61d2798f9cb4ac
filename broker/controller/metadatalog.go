package controller

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"runnel/broker/metadata"
	"runnel/broker/quorum"
)

// MetadataTopicID is __cluster_metadata's topic id, KRaft's
// Uuid.METADATA_TOPIC_ID (AAAAAAAAAAAAAAAAAAAAAQ): how Fetch v13+ names it.
var MetadataTopicID = [16]byte{15: 1}

// defaultFetchBytes caps a metadata fetch that asks for no limit.
const defaultFetchBytes = 1 << 20

// observerSessionTimeout is how long DescribeQuorum lists an observer that
// stopped fetching, KRaft's LeaderState.OBSERVER_SESSION_TIMEOUT_MS.
const observerSessionTimeout = 5 * time.Minute

// maxObservers bounds the observers DescribeQuorum tracks.
const maxObservers = 4096

// ApplyEntry applies one committed entry of the metadata log to img and
// returns the image after it and the records it held: the one reader of the
// entry format (doc.go), used by every controller's state machine and by
// the brokers that follow the log. An entry without metadata records (a new
// leader's empty entry, a configuration change) leaves img as it is. An
// entry that does not decode or apply returns img and the error: every
// reader holds the same image before it, so every reader skips it alike.
func ApplyEntry(img *metadata.Image, e *pb.Entry) (*metadata.Image, []metadata.Record, error) {
	if e.GetType() != pb.EntryType_EntryNormal || len(e.GetData()) == 0 {
		return img, nil, nil
	}
	records, err := metadata.DecodeBatch(e.GetData())
	if err != nil {
		return img, nil, err
	}
	next, err := img.ApplyAll(records)
	if err != nil {
		return img, nil, err
	}
	return next, records, nil
}

// RestoreImage builds the image a snapshot's data holds: the image's
// records as one batch, nothing for the empty image.
func RestoreImage(data []byte) (*metadata.Image, error) {
	img := new(metadata.Image)
	if len(data) == 0 {
		return img, nil
	}
	records, err := metadata.DecodeBatch(data)
	if err != nil {
		return nil, err
	}
	return img.ApplyAll(records)
}

// notifyAppliedLocked wakes the fetches waiting for entries. Called with
// sm.sm held.
func (sm *stateMachine) notifyAppliedLocked() {
	close(sm.sm.applied)
	sm.sm.applied = make(chan struct{})
}

// observers are the brokers fetching the metadata log from this leader,
// for DescribeQuorum, as KRaft's LeaderState tracks its observers.
type observers struct {
	sync.Mutex
	term     uint64 // the leadership the states below belong to
	replicas map[int32]*replicaState
}

type replicaState struct {
	endOffset          int64 // the fetch offset of its last fetch
	lastFetch          int64 // ms
	lastCaughtUp       int64 // ms, -1 never
	lastFetchLeaderEnd int64 // the high watermark its last fetch was answered with
}

// noteFetch records a fetch from observer id at offset, answered with the
// high watermark hw, after KRaft's ReplicaState.updateFollowerState: caught
// up now when it fetched from the high watermark, or as of its previous
// fetch when it reached the high watermark that fetch was answered with.
func (o *observers) noteFetch(term uint64, id int32, offset, hw, now int64) {
	o.Lock()
	defer o.Unlock()
	if o.term != term || o.replicas == nil {
		o.term, o.replicas = term, map[int32]*replicaState{}
	}
	r := o.replicas[id]
	if r == nil {
		if len(o.replicas) >= maxObservers {
			return // replica ids are network input: the map stays bounded
		}
		r = &replicaState{lastFetch: -1, lastCaughtUp: -1}
		o.replicas[id] = r
	}
	if offset >= hw {
		r.lastCaughtUp = max(r.lastCaughtUp, now)
	} else if r.lastFetchLeaderEnd > 0 && offset >= r.lastFetchLeaderEnd {
		r.lastCaughtUp = max(r.lastCaughtUp, r.lastFetch)
	}
	r.lastFetchLeaderEnd = hw
	r.lastFetch = max(r.lastFetch, now)
	r.endOffset = offset
}

// states lists the observers of term that fetched within the observer
// session timeout, by id.
func (o *observers) states(term uint64, now int64) []kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
	o.Lock()
	defer o.Unlock()
	if o.term != term {
		return nil
	}
	var out []kmsg.DescribeQuorumResponseTopicPartitionReplicaState
	for _, id := range slices.Sorted(maps.Keys(o.replicas)) {
		r := o.replicas[id]
		if now-r.lastFetch >= observerSessionTimeout.Milliseconds() {
			delete(o.replicas, id)
			continue
		}
		s := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		s.ReplicaID, s.LogEndOffset, s.LastFetchTimestamp, s.LastCaughtUpTimestamp = id, r.endOffset, r.lastFetch, r.lastCaughtUp
		out = append(out, s)
	}
	return out
}

// voterTimes are the leader's estimates of when each other voter last
// fetched and was last caught up, for DescribeQuorum. Raft keeps no times,
// so the leader samples its Progress every SessionCheckInterval: a voter
// fetched at a sample where Raft counts it recently active (heard from
// within an election timeout, so the estimate may be late by that much),
// and was caught up at a sample where its match index reached the leader's
// last index, or at the previous sample when it reached the last index of
// that one (KRaft's rule for a follower that never quite reaches the end
// of a log that keeps growing).
type voterTimes struct {
	sync.Mutex
	term              uint64
	fetch, caughtUp   map[uint64]int64 // ms
	lastIndex, lastMs int64            // the leader's last index at the previous sample, and when
}

// sampleVoters updates voterTimes from the Raft Progress, on the leader.
func (c *Controller) sampleVoters() {
	st := c.node.Status()
	if st.RaftState != raft.StateLeader {
		return
	}
	now := c.clock().UnixMilli()
	last := int64(st.Progress[st.ID].Match)
	v := &c.voterTimes
	v.Lock()
	defer v.Unlock()
	if v.term != st.GetTerm() || v.fetch == nil {
		v.term, v.fetch, v.caughtUp, v.lastIndex, v.lastMs = st.GetTerm(), map[uint64]int64{}, map[uint64]int64{}, -1, -1
	}
	for id, pr := range st.Progress {
		if id == st.ID {
			continue
		}
		if pr.RecentActive {
			v.fetch[id] = now
		}
		if match := int64(pr.Match); match >= last {
			v.caughtUp[id] = now
		} else if v.lastIndex > 0 && match >= v.lastIndex {
			v.caughtUp[id] = max(v.caughtUp[id], v.lastMs)
		}
	}
	v.lastIndex, v.lastMs = last, now
}

// times returns voter id's last fetch and caught-up times in term (-1:
// unknown).
func (v *voterTimes) times(term, id uint64) (fetch, caughtUp int64) {
	v.Lock()
	defer v.Unlock()
	fetch, caughtUp = -1, -1
	if v.term != term {
		return
	}
	if t, ok := v.fetch[id]; ok {
		fetch = t
	}
	if t, ok := v.caughtUp[id]; ok {
		caughtUp = t
	}
	return
}

// nodeID is the node.id of a voter's Raft id (Raft reserves 0 for "none",
// quorum/doc.go): what the Kafka APIs name voters by.
func nodeID(raftID uint64) int32 { return int32(raftID) - 1 }

// isMetadataPartition reports whether topic (by name, or by id when the
// version names topics by id) and partition are __cluster_metadata-0.
func isMetadataPartition(name string, id [16]byte, byID bool, partition int32) bool {
	if byID {
		return id == MetadataTopicID && partition == quorum.Partition.Partition
	}
	return name == quorum.Partition.Topic && partition == quorum.Partition.Partition
}

// DescribeQuorum answers DescribeQuorum (KIP-595, KIP-836) for
// __cluster_metadata-0 as KRaft's leader does; a member that is not the
// Raft leader answers NOT_LEADER_OR_FOLLOWER, another partition
// UNKNOWN_TOPIC_OR_PARTITION. The high watermark is the commit index as an
// end offset (the entries at offsets below it are committed), -1 (unknown,
// as KRaft answers) until the leader is active: a new leader learns what
// its predecessor committed only by committing an entry of its own term,
// and a lower commit index would let a caller that waits to apply it
// (a restarting voter, a broker seeing its admin change) take a stale image
// for caught up. Voters are
// listed with their log end offset (Raft's match index) and the times the
// leader estimates from sampling Raft's Progress (voterTimes; -1 before
// the first sample); the leader's own times are now, as in KRaft.
// Observers are the brokers that fetched the log (FetchMetadata) from this
// leader in the last five minutes, with the times of their fetches. Nodes
// (v2) is empty: the controller does not know its voters' listeners.
func (c *Controller) DescribeQuorum(req *kmsg.DescribeQuorumRequest) *kmsg.DescribeQuorumResponse {
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	now := c.clock().UnixMilli()
	for _, rt := range req.Topics {
		t := kmsg.NewDescribeQuorumResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewDescribeQuorumResponseTopicPartition()
			p.Partition = rp.Partition
			if isMetadataPartition(rt.Topic, [16]byte{}, false, rp.Partition) {
				c.describeQuorum(&p, now)
			} else {
				p.ErrorCode, p.ErrorMessage = kerr.UnknownTopicOrPartition.Code, kmsg.StringPtr(kerr.UnknownTopicOrPartition.Message)
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

func (c *Controller) describeQuorum(p *kmsg.DescribeQuorumResponseTopicPartition, now int64) {
	activeTerm, active := c.activeTerm() // before the status: the commit index only grows within a term
	st := c.node.Status()
	if st.RaftState != raft.StateLeader {
		p.ErrorCode, p.ErrorMessage = kerr.NotLeaderForPartition.Code, kmsg.StringPtr(kerr.NotLeaderForPartition.Message)
		return
	}
	p.LeaderID, p.LeaderEpoch, p.HighWatermark = nodeID(st.ID), int32(st.GetTerm()), -1
	if active && activeTerm == st.GetTerm() {
		p.HighWatermark = int64(st.GetCommit())
	}
	for _, id := range slices.Sorted(maps.Keys(st.Config.Voters.IDs())) {
		v := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		v.ReplicaID, v.LogEndOffset = nodeID(id), int64(st.Progress[id].Match)
		if id == st.ID {
			v.LastFetchTimestamp, v.LastCaughtUpTimestamp = now, now
		} else {
			v.LastFetchTimestamp, v.LastCaughtUpTimestamp = c.voterTimes.times(st.GetTerm(), id)
		}
		p.CurrentVoters = append(p.CurrentVoters, v)
	}
	p.Observers = c.observers.states(st.GetTerm(), now)
}

// FetchMetadata answers a Fetch of __cluster_metadata-0 from a broker that
// follows the metadata log without voting (doc.go, "Following the metadata
// log"): the committed entries from the fetch offset on, as the log holds
// them, with the commit index as the high watermark. A fetch below the log
// start gets the latest snapshot's id (SnapshotID) instead, to be fetched
// with FetchSnapshot; one past the high watermark OFFSET_OUT_OF_RANGE; a
// member that is not the Raft leader NOT_LEADER_OR_FOLLOWER with the leader
// it knows. A fetch at the high watermark waits up to MaxWaitMillis (or
// until ctx ends) for the next commit. Other partitions get
// UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID from v13); a ClusterID other
// than Config's INCONSISTENT_CLUSTER_ID.
func (c *Controller) FetchMetadata(ctx context.Context, req *kmsg.FetchRequest) *kmsg.FetchResponse {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if !c.sameCluster(req.ClusterID) {
		resp.ErrorCode = kerr.InconsistentClusterID.Code
		return resp
	}
	replica := req.ReplicaID
	if req.Version >= 15 {
		replica = req.ReplicaState.ID
	}
	byID := req.Version >= 13
	var wait time.Duration
	if len(req.Topics) == 1 && len(req.Topics[0].Partitions) == 1 {
		wait = time.Duration(req.MaxWaitMillis) * time.Millisecond
	}
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for _, rt := range req.Topics {
		t := kmsg.NewFetchResponseTopic()
		t.Topic, t.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = rp.Partition
			switch {
			case !isMetadataPartition(rt.Topic, rt.TopicID, byID, rp.Partition) && byID:
				p.ErrorCode = kerr.UnknownTopicID.Code
			case !isMetadataPartition(rt.Topic, rt.TopicID, byID, rp.Partition):
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				maxBytes := int(min(req.MaxBytes, rp.PartitionMaxBytes))
				if maxBytes <= 0 {
					maxBytes = defaultFetchBytes
				}
				c.waitForEntries(waitCtx, rp.FetchOffset)
				c.fetchMetadata(&p, replica, rp.FetchOffset, maxBytes)
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// waitForEntries waits until an entry at or past offset is committed and
// applied here, or ctx ends or the controller stops. A member that is not
// the leader does not wait: its answer is an error.
func (c *Controller) waitForEntries(ctx context.Context, offset int64) {
	if c.node.Status().RaftState != raft.StateLeader {
		return
	}
	for {
		c.sm.Lock()
		applied, wake := int64(c.sm.appliedIndex), c.sm.applied
		c.sm.Unlock()
		if applied > offset {
			return
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return
		case <-c.stop:
			return
		case <-c.node.Done():
			return
		}
	}
}

// fetchMetadata fills p for a fetch of the metadata log at offset.
func (c *Controller) fetchMetadata(p *kmsg.FetchResponseTopicPartition, replica int32, offset int64, maxBytes int) {
	st := c.node.Status()
	p.CurrentLeader.LeaderEpoch = int32(st.GetTerm())
	if st.Lead != raft.None {
		p.CurrentLeader.LeaderID = nodeID(st.Lead)
	}
	if st.RaftState != raft.StateLeader {
		p.ErrorCode = kerr.NotLeaderForPartition.Code
		return
	}
	storage := c.cfg.Node.Storage
	first, _ := storage.FirstIndex()
	last, _ := storage.LastIndex()
	commit := min(st.GetCommit(), last) // the leader saves an entry before it counts it: a guard
	logStart := int64(first) - 1
	p.HighWatermark, p.LastStableOffset, p.LogStartOffset = int64(commit), int64(commit), logStart
	switch {
	case offset < 0 || offset > int64(commit):
		p.ErrorCode = kerr.OffsetOutOfRange.Code
		return
	case offset < logStart:
		c.pointAtSnapshot(p)
		return
	}
	if replica >= 0 {
		c.observers.noteFetch(st.GetTerm(), replica, offset, int64(commit), c.clock().UnixMilli())
	}
	if offset == int64(commit) {
		return
	}
	batches, err := storage.EntryBatches(uint64(offset)+1, commit+1, maxBytes)
	switch {
	case errors.Is(err, raft.ErrCompacted): // compacted since FirstIndex
		c.pointAtSnapshot(p)
	case err != nil:
		c.logger.Error("controller: reading the metadata log for a fetch", "offset", offset, "err", err)
		p.ErrorCode = kerr.UnknownServerError.Code
	default:
		p.RecordBatches = batches
	}
}

// pointAtSnapshot answers a fetch below the log start with the latest
// snapshot's id.
func (c *Controller) pointAtSnapshot(p *kmsg.FetchResponseTopicPartition) {
	snap, _ := c.cfg.Node.Storage.Snapshot()
	p.SnapshotID.EndOffset, p.SnapshotID.Epoch = int64(snap.GetMetadata().GetIndex()), int32(snap.GetMetadata().GetTerm())
}

// FetchSnapshot answers FetchSnapshot (KIP-630) for __cluster_metadata-0:
// the bytes of the latest snapshot's data (the image's records as one
// batch, doc.go) from Position, up to MaxBytes, with its Size. A snapshot id
// other than the latest is SNAPSHOT_NOT_FOUND, a position outside the data
// POSITION_OUT_OF_RANGE, a member that is not the Raft leader
// NOT_LEADER_OR_FOLLOWER, another partition UNKNOWN_TOPIC_OR_PARTITION, a
// ClusterID other than Config's INCONSISTENT_CLUSTER_ID.
func (c *Controller) FetchSnapshot(req *kmsg.FetchSnapshotRequest) *kmsg.FetchSnapshotResponse {
	resp := req.ResponseKind().(*kmsg.FetchSnapshotResponse)
	if !c.sameCluster(req.ClusterID) {
		resp.ErrorCode = kerr.InconsistentClusterID.Code
		return resp
	}
	for _, rt := range req.Topics {
		t := kmsg.NewFetchSnapshotResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewFetchSnapshotResponseTopicPartition()
			p.Partition = rp.Partition
			if isMetadataPartition(rt.Topic, [16]byte{}, false, rp.Partition) {
				c.fetchSnapshot(&p, rp, int(req.MaxBytes))
			} else {
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

func (c *Controller) fetchSnapshot(p *kmsg.FetchSnapshotResponseTopicPartition, rp kmsg.FetchSnapshotRequestTopicPartition, maxBytes int) {
	st := c.node.Status()
	p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = -1, int32(st.GetTerm())
	if st.Lead != raft.None {
		p.CurrentLeader.LeaderID = nodeID(st.Lead)
	}
	if st.RaftState != raft.StateLeader {
		p.ErrorCode = kerr.NotLeaderForPartition.Code
		return
	}
	snap, _ := c.cfg.Node.Storage.Snapshot()
	md := snap.GetMetadata()
	if md.GetIndex() == 0 || rp.SnapshotID.EndOffset != int64(md.GetIndex()) || rp.SnapshotID.Epoch != int32(md.GetTerm()) {
		p.ErrorCode = kerr.SnapshotNotFound.Code
		return
	}
	p.SnapshotID.EndOffset, p.SnapshotID.Epoch = int64(md.GetIndex()), int32(md.GetTerm())
	data := snap.GetData()
	size := int64(len(data))
	// The empty image's snapshot has no bytes: position 0 is its end.
	if rp.Position < 0 || rp.Position > size || (rp.Position == size && size > 0) {
		p.ErrorCode = kerr.PositionOutOfRange.Code
		return
	}
	if maxBytes <= 0 {
		maxBytes = defaultFetchBytes
	}
	p.Size, p.Position = size, rp.Position
	p.Bytes = data[rp.Position:min(size, rp.Position+int64(maxBytes))]
}

// sameCluster reports whether a request's optional cluster id is this
// controller's (a request without one, or a controller configured without
// one, matches).
func (c *Controller) sameCluster(id *string) bool {
	return id == nil || c.cfg.ClusterID == "" || *id == c.cfg.ClusterID
}

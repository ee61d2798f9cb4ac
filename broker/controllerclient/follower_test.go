package controllerclient

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/internal/wait"
)

// sameImage waits until f's image is the active controller's, at the
// same offset.
func sameImage(t *testing.T, tq *testQuorum, f *Follower) {
	t.Helper()
	wait.Until(t, 10*time.Second, "the follower's image equal to the controller's", func() bool {
		a := tq.active()
		return f.AppliedOffset() == a.AppliedOffset() && f.Holder().Load().Hash() == a.Image().Hash()
	})
}

func startFollower(t *testing.T, c *Client, id int32, maxBytes int32) *Follower {
	t.Helper()
	f, err := StartFollower(FollowerConfig{Client: c, NodeID: id, ClusterID: "test-cluster", MaxWait: 100 * time.Millisecond,
		MaxBytes: maxBytes, MinBackoff: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

func TestFollowerCatchesUpFromEmptyAndFollows(t *testing.T) {
	tq := newTestQuorum(t, 0)
	c := tq.client()
	b := startBroker(t, tq, c, 4)
	wait.Until(t, 10*time.Second, "broker 4 unfenced", func() bool { return fencedInImage(tq, 4, false) })
	for i := range 5 {
		createTopic(t, c, fmt.Sprint("early-", i), 3)
	}

	// A follower that starts late catches up from offset 0, in fetches of
	// about one entry (a tiny MaxBytes).
	late := startFollower(t, c, 5, 1)
	sameImage(t, tq, late)
	sameImage(t, tq, b.f)

	// Each new entry reaches both; a broker that waits for the committed
	// offset after a create sees the topic.
	for i := range 5 {
		name := fmt.Sprint("late-", i)
		createTopic(t, c, name, 2)
		hw, err := c.CommittedOffset(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := late.WaitApplied(testCtx(t), hw-1); err != nil {
			t.Fatal(err)
		}
		if _, ok := late.Holder().Load().Topic(name); !ok {
			t.Fatalf("%s not in the image at offset %d (committed %d)", name, late.AppliedOffset(), hw)
		}
	}
	sameImage(t, tq, late)
	sameImage(t, tq, b.f)
	if late.Holder().Load().NumTopics() != 10 {
		t.Fatalf("%d topics, want 10", late.Holder().Load().NumTopics())
	}

	// The active controller lists both brokers as observers.
	p, err := c.DescribeQuorum(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var observers []int32
	for _, o := range p.Observers {
		observers = append(observers, o.ReplicaID)
		if o.LogEndOffset <= 0 || o.LastFetchTimestamp <= 0 {
			t.Fatalf("observer %+v", o)
		}
	}
	if !slices.Equal(observers, []int32{4, 5}) {
		t.Fatalf("observers %v, want [4 5]", observers)
	}
	for _, v := range p.CurrentVoters {
		if v.LogEndOffset <= 0 || v.LastFetchTimestamp <= 0 || v.LastCaughtUpTimestamp <= 0 {
			t.Fatalf("voter %+v", v)
		}
	}
}

func TestFollowerLoadsASnapshotWhenBehindTheLogStart(t *testing.T) {
	tq := newTestQuorum(t, 5) // a snapshot every 5 entries, 2 kept before it
	c := tq.client()
	b := startBroker(t, tq, c, 4)
	wait.Until(t, 10*time.Second, "broker 4 unfenced", func() bool { return fencedInImage(tq, 4, false) })
	for i := range 20 {
		createTopic(t, c, fmt.Sprint("topic-", i), 2)
	}
	if first, _ := tq.stores[tq.active().Node().ID()].FirstIndex(); first <= 1 {
		t.Fatalf("the log was not compacted: first index %d", first)
	}

	// A new follower's fetch at 0 is below the log start: it fetches the
	// snapshot (in many chunks of 200 bytes), then the entries after it.
	late := startFollower(t, c, 5, 200)
	sameImage(t, tq, late)
	var chunks int64
	for _, s := range tq.servers {
		chunks += s.snapshotFetches.Load()
	}
	if chunks < 2 {
		t.Fatalf("%d snapshot fetches, want the snapshot fetched in several chunks", chunks)
	}
	createTopic(t, c, "after-snapshot", 1)
	sameImage(t, tq, late)
	sameImage(t, tq, b.f)

	// FetchSnapshot's errors: another snapshot id, a position past the end.
	a := tq.active()
	snap, _ := tq.stores[a.Node().ID()].Snapshot()
	id, size := snap.GetMetadata(), int64(len(snap.GetData()))
	for _, tt := range []struct {
		name      string
		endOffset int64
		position  int64
		code      int16
	}{
		{"the latest", int64(id.GetIndex()), size - 1, 0},
		{"another id", int64(id.GetIndex()) - 1, 0, kerr.SnapshotNotFound.Code},
		{"past the end", int64(id.GetIndex()), size, kerr.PositionOutOfRange.Code},
	} {
		req := kmsg.NewPtrFetchSnapshotRequest()
		rt := kmsg.NewFetchSnapshotRequestTopic()
		rt.Topic = "__cluster_metadata"
		rp := kmsg.NewFetchSnapshotRequestTopicPartition()
		rp.SnapshotID.EndOffset, rp.SnapshotID.Epoch, rp.Position = tt.endOffset, int32(id.GetTerm()), tt.position
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		p := a.FetchSnapshot(req).Topics[0].Partitions[0]
		if p.ErrorCode != tt.code || (tt.code == 0 && (p.Size != size || len(p.Bytes) != 1)) {
			t.Fatalf("%s: error %d size %d, %d bytes", tt.name, p.ErrorCode, p.Size, len(p.Bytes))
		}
	}
}

func TestFetchMetadataAnswers(t *testing.T) {
	tq := newTestQuorum(t, 0)
	c := tq.client()
	startBroker(t, tq, c, 4)
	wait.Until(t, 10*time.Second, "broker 4 unfenced", func() bool { return fencedInImage(tq, 4, false) })
	a := tq.active()
	var follower uint64
	for _, id := range tq.voters {
		if id != a.Node().ID() {
			follower = id
		}
	}
	fetch := func(version int16, offset int64, topic string) kmsg.FetchResponseTopicPartition {
		req := kmsg.NewPtrFetchRequest()
		req.Version = version
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, [16]byte{15: 1}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset = offset
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return a.FetchMetadata(testCtx(t), req).Topics[0].Partitions[0]
	}
	hw := fetch(16, 0, "").HighWatermark
	for _, tt := range []struct {
		name    string
		version int16
		offset  int64
		topic   string
		code    int16
	}{
		{"past the high watermark", 16, hw + 1, "", 1},
		{"at the high watermark", 16, hw, "", 0},
		{"by name before v13", 12, 0, "__cluster_metadata", 0},
		{"another topic before v13", 12, 0, "other", 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := fetch(tt.version, tt.offset, tt.topic)
			if p.ErrorCode != tt.code || (tt.code == 0 && p.HighWatermark != hw) {
				t.Fatalf("error %d high watermark %d, want %d and %d", p.ErrorCode, p.HighWatermark, tt.code, hw)
			}
		})
	}
	// A fetch at the high watermark waits for the next entry, not for
	// MaxWaitMillis.
	parked := make(chan kmsg.FetchResponseTopicPartition, 1)
	go func() {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.MaxWaitMillis = 16, 20000
		rt := kmsg.NewFetchRequestTopic()
		rt.TopicID = [16]byte{15: 1}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset = hw
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		parked <- a.FetchMetadata(testCtx(t), req).Topics[0].Partitions[0]
	}()
	start := time.Now()
	createTopic(t, c, "wakes-the-fetch", 1)
	if p := <-parked; len(p.RecordBatches) == 0 || p.HighWatermark <= hw || time.Since(start) > 10*time.Second {
		t.Fatalf("the parked fetch answered %d bytes, high watermark %d (was %d), after %v", len(p.RecordBatches), p.HighWatermark, hw, time.Since(start))
	}

	req := kmsg.NewPtrFetchRequest()
	req.Version = 16
	rt := kmsg.NewFetchRequestTopic()
	rt.TopicID = [16]byte{15: 1}
	rt.Partitions = append(rt.Partitions, kmsg.NewFetchRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	if p := tq.controller(follower).FetchMetadata(testCtx(t), req).Topics[0].Partitions[0]; p.ErrorCode != 6 || p.CurrentLeader.LeaderID != int32(a.Node().ID())-1 {
		t.Fatalf("a follower controller answered error %d leader %d, want NOT_LEADER_OR_FOLLOWER and %d", p.ErrorCode, p.CurrentLeader.LeaderID, a.Node().ID())
	}
	dq := kmsg.NewPtrDescribeQuorumRequest()
	dq.Topics = describeQuorumRequest().Topics
	if p := tq.controller(follower).DescribeQuorum(dq).Topics[0].Partitions[0]; p.ErrorCode != 6 {
		t.Fatalf("a follower controller described the quorum: error %d", p.ErrorCode)
	}
}

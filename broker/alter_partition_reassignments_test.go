package broker

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
	"runnel/internal/wait"
)

// TestReassignThroughKadm: three brokers; kadm moves partition 0 of a topic
// on brokers 0 and 1 to 1 and 2. Every broker's image shows the move, broker
// 2 creates the log, ListPartitionReassignments lists it (kadm, and the raw
// request for all partitions on another broker). Once the leader's
// AlterPartition puts 2 in the ISR, the move completes:
// replicas 1, 2, led by 1, and broker 0 deletes its log. Bad targets get
// Kafka's errors, and a cancel takes a partition back.
func TestReassignThroughKadm(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers[1].Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	create := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "moves", -1, -1
	for p := range int32(2) {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = p, []int32{0, 1}
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	}
	create.Topics = append(create.Topics, rt)
	if resp, err := create.RequestWith(ctx, cl); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v %+v", err, resp)
	}

	// Broker 2 fetches nothing: with real replication its empty replica
	// would otherwise join the ISR at once and complete the move before it
	// is listed. The test puts it in the ISR itself below.
	brokers[2].repl.fetchers.Close()
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("moves", 0, []int32{1, 2})
	resps, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil || resps["moves"][0].Err != nil {
		t.Fatalf("AlterPartitionAssignments: %v %+v", err, resps)
	}
	partitionOn := func(b *Broker) metadata.Partition {
		p, _ := b.image().Partition("moves", 0)
		return p
	}
	wait.Until(t, 10*time.Second, "every broker sees the move and broker 2 holds the log", func() bool {
		for _, b := range brokers {
			p := partitionOn(b)
			if !slices.Equal(p.Replicas, []int32{1, 2, 0}) || !slices.Equal(p.AddingReplicas, []int32{2}) || !slices.Equal(p.RemovingReplicas, []int32{0}) {
				return false
			}
		}
		return brokers[2].topic("moves") != nil && brokers[2].topic("moves").partitionAt(0) != nil
	})
	listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"moves": {0: {}, 1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := listed["moves"][0]; len(listed["moves"]) != 1 || !ok || !slices.Equal(l.Replicas, []int32{1, 2, 0}) ||
		!slices.Equal(l.AddingReplicas, []int32{2}) || !slices.Equal(l.RemovingReplicas, []int32{0}) {
		t.Fatalf("kadm lists %+v", listed)
	}
	other, err := kgo.NewClient(kgo.SeedBrokers(brokers[2].Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	all, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctx, other)
	if err != nil || all.ErrorCode != 0 || len(all.Topics) != 1 || len(all.Topics[0].Partitions) != 1 {
		t.Fatalf("listing all on broker 2: %v %+v", err, all)
	}

	// Bad targets.
	var bad kadm.AlterPartitionAssignmentsReq
	bad.Assign("moves", 0, []int32{1, 1})
	bad.Assign("moves", 1, []int32{1, 7})
	bad.Assign("nope", 0, []int32{1})
	resps, err = adm.AlterPartitionAssignments(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		topic     string
		partition int32
		want      error
	}{{"moves", 0, kerr.InvalidReplicaAssignment}, {"moves", 1, kerr.InvalidReplicaAssignment}, {"nope", 0, kerr.UnknownTopicOrPartition}} {
		if got := resps[c.topic][c.partition].Err; !errors.Is(got, c.want) {
			t.Errorf("%s-%d: %v, want %v", c.topic, c.partition, got, c.want)
		}
	}

	// Broker 2 joins the ISR, as leader 0 asks with AlterPartition (what
	// its ISR tracking sends once a fetch of 2 reaches the high watermark):
	// the move completes in the same entry, and leader 0, removed, is
	// answered NEW_LEADER_ELECTED, as Kafka answers.
	img := brokers[0].image()
	p, _ := img.Partition("moves", 0)
	mt, _ := img.Topic("moves")
	self, _ := img.Broker(0)
	alter := kmsg.NewPtrAlterPartitionRequest()
	alter.Version, alter.BrokerID, alter.BrokerEpoch = 2, 0, self.Epoch
	at := kmsg.NewAlterPartitionRequestTopic()
	at.TopicID = mt.ID()
	ap := kmsg.NewAlterPartitionRequestTopicPartition()
	ap.Partition, ap.LeaderEpoch, ap.PartitionEpoch, ap.NewISR = 0, p.LeaderEpoch, p.PartitionEpoch, []int32{0, 1, 2}
	at.Partitions = append(at.Partitions, ap)
	alter.Topics = append(alter.Topics, at)
	switch resp := brokers[0].controller().AlterPartition(ctx, alter); {
	case resp.ErrorCode != 0:
		t.Fatalf("AlterPartition: %+v", resp)
	case resp.Topics[0].Partitions[0].ErrorCode != kerr.NewLeaderElected.Code:
		t.Fatalf("AlterPartition completing the move: %v", kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode))
	}
	wait.Until(t, 10*time.Second, "the move completed on every broker and broker 0's log deleted", func() bool {
		for _, b := range brokers {
			p := partitionOn(b)
			if p.Reassigning() || !slices.Equal(p.Replicas, []int32{1, 2}) || !slices.Equal(p.ISR, []int32{1, 2}) || p.Leader != 1 {
				return false
			}
		}
		return brokers[0].topic("moves").partitionAt(0) == nil
	})
	if listed, err = adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"moves": {0: {}}}); err != nil || len(listed["moves"]) != 0 {
		t.Fatalf("listed after completion: %v %+v", err, listed)
	}

	// Partition 1 starts moving to 2, 0 and is cancelled; cancelling
	// again is NO_REASSIGNMENT_IN_PROGRESS.
	var move, stop kadm.AlterPartitionAssignmentsReq
	move.Assign("moves", 1, []int32{2, 0})
	stop.CancelAssign("moves", 1)
	for i, want := range []error{nil, nil, kerr.NoReassignmentInProgress} {
		r := move
		if i > 0 {
			r = stop
		}
		resps, err = adm.AlterPartitionAssignments(ctx, r)
		if err != nil || !errors.Is(resps["moves"][1].Err, want) {
			t.Fatalf("step %d: %v %+v, want %v", i, err, resps, want)
		}
	}
	wait.Until(t, 10*time.Second, "partition 1 back on 0, 1", func() bool {
		for _, b := range brokers {
			if p, _ := b.image().Partition("moves", 1); p.Reassigning() || !slices.Equal(p.Replicas, []int32{0, 1}) {
				return false
			}
		}
		return true
	})
}

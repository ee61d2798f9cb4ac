package clustertest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/clustertest"
)

// TestAdminRequestsForwarded: in three combined nodes and one broker-only
// node, every node answers DescribeQuorum with the same leader; a topic
// created through a combined node that is not the active controller, and
// one created through the broker-only node, are in that node's Metadata
// as soon as CreateTopics has answered (it answers once the node applied
// them), with a leader for each partition; records produced with kgo to
// partitions led by the different brokers are consumed back.
func TestAdminRequestsForwarded(t *testing.T) {
	c, err := clustertest.Start(clustertest.Options{Nodes: 3, BrokerOnly: 1, Ready: clustertest.MetadataListsAllBrokers,
		Timeout: time.Minute, Test: t})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	leader := int32(-1)
	for i := range c.Len() {
		resp, err := c.Request(ctx, i, describeQuorum())
		if err != nil {
			t.Fatalf("node %d: DescribeQuorum: %v", c.Node(i).ID, err)
		}
		p := resp.(*kmsg.DescribeQuorumResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || (leader >= 0 && p.LeaderID != leader) {
			t.Fatalf("node %d: DescribeQuorum: %v, leader %d (others %d)", c.Node(i).ID, kerr.ErrorForCode(p.ErrorCode), p.LeaderID, leader)
		}
		leader = p.LeaderID
	}
	follower := 0
	for c.Node(follower).ID == leader {
		follower++
	}
	brokerOnly := 3
	if c.Node(brokerOnly).Controller() {
		t.Fatal("node 3 is a controller")
	}

	for _, via := range []int{follower, brokerOnly} {
		topic := fmt.Sprintf("via-%d", c.Node(via).ID)
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 8, 1
		req.Topics = append(req.Topics, rt)
		resp, err := c.Request(ctx, via, req)
		if err != nil {
			t.Fatalf("create through node %d: %v", c.Node(via).ID, err)
		}
		if err := kerr.ErrorForCode(resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode); err != nil {
			t.Fatalf("create through node %d: %v", c.Node(via).ID, err)
		}
		md := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(topic)
		md.Topics = append(md.Topics, mt)
		mresp, err := c.Request(ctx, via, md)
		if err != nil {
			t.Fatal(err)
		}
		mts := mresp.(*kmsg.MetadataResponse).Topics
		if len(mts) != 1 || mts[0].ErrorCode != 0 || len(mts[0].Partitions) != 8 {
			t.Fatalf("node %d's Metadata right after the create: %+v", c.Node(via).ID, mts)
		}
		leaders := map[int32]bool{}
		for _, p := range mts[0].Partitions {
			if p.ErrorCode != 0 || p.Leader < 0 {
				t.Fatalf("node %d: %s-%d: %v, leader %d", c.Node(via).ID, topic, p.Partition, kerr.ErrorForCode(p.ErrorCode), p.Leader)
			}
			leaders[p.Leader] = true
		}
		if len(leaders) < 3 {
			t.Errorf("%s: leaders %v, want at least three brokers", topic, leaders)
		}
	}

	topic := fmt.Sprintf("via-%d", c.Node(brokerOnly).ID)
	cl, err := c.Client(kgo.DefaultProduceTopic(topic), kgo.ConsumeTopics(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 200
	for i := range n {
		cl.Produce(ctx, kgo.StringRecord(fmt.Sprint(i)), nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	partitions := map[int32]bool{}
	for len(seen) < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consumed %d of %d: %v", len(seen), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)] = true
			partitions[r.Partition] = true
		})
	}
	if len(partitions) != 8 {
		t.Errorf("consumed from partitions %v, want all 8", partitions)
	}
}

// describeQuorum asks about the controller quorum's partition.
func describeQuorum() *kmsg.DescribeQuorumRequest {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rp := kmsg.NewDescribeQuorumRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

package broker_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/brokertest"
)

// TestDescribeQuorumSpeaksNodeIDs: a single node, the only voter of its
// quorum, describes it with itself as leader and voter by node.id, not by
// its Raft id.
func TestDescribeQuorumSpeaksNodeIDs(t *testing.T) {
	b := brokertest.Start(t, "node.id=7")
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx(t), b.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("DescribeQuorum: %+v", resp)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.LeaderID != 7 || len(p.CurrentVoters) != 1 || p.CurrentVoters[0].ReplicaID != 7 {
		t.Fatalf("quorum: error %d, leader %d, voters %+v; want node 7 leading itself", p.ErrorCode, p.LeaderID, p.CurrentVoters)
	}
	if p.HighWatermark <= 0 {
		t.Errorf("high watermark %d after the node registered itself", p.HighWatermark)
	}
}

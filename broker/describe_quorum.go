package broker

// DescribeQuorum, versions 0-2.
//
// A controller API (KIP-595, KIP-836): a controller quorum voter answers
// for __cluster_metadata-0 with its own controller, which describes the
// quorum when it is the Raft leader and answers NOT_LEADER_OR_FOLLOWER
// otherwise (controller.DescribeQuorum). The controller speaks Raft ids,
// node.id + 1 (raftID); the answer gives the leader and the voters by
// node.id, as Kafka does, so that a client (controllerclient, `runnel
// cluster describe`) finds the leader among controller.quorum.voters.
// Observers are brokers by node.id already. A node that is no voter
// answers NOT_LEADER_OR_FOLLOWER for every partition.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.DescribeQuorum.Int16(), minVersion: 0, maxVersion: 2, handle: handleDescribeQuorum})
}

func handleDescribeQuorum(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.DescribeQuorumRequest)
	if b.quorum == nil {
		resp := msg.ResponseKind().(*kmsg.DescribeQuorumResponse)
		for _, rt := range msg.Topics {
			t := kmsg.NewDescribeQuorumResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewDescribeQuorumResponseTopicPartition()
				p.Partition, p.ErrorCode = rp.Partition, kerr.NotLeaderForPartition.Code
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		r.finish(resp)
		return r
	}
	resp := b.quorum.ctrl.DescribeQuorum(msg)
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			p := &resp.Topics[i].Partitions[j]
			if p.ErrorCode != 0 {
				continue
			}
			p.LeaderID = nodeID(uint64(p.LeaderID))
			for k := range p.CurrentVoters {
				p.CurrentVoters[k].ReplicaID = nodeID(uint64(p.CurrentVoters[k].ReplicaID))
			}
		}
	}
	r.finish(resp)
	return r
}

// nodeID is the node.id of Raft id id (raftID's inverse).
func nodeID(id uint64) int32 { return int32(id) - 1 }

package broker

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
	"runnel/segment"
)

// publishTestImage commits records through b's own controller quorum (as
// an import, one entry) and waits until b has applied them: the one place
// tests set the image. The records describe the image the test wants and
// are turned into what applies to b's image: b's own registration is left
// out (it registered itself), a topic b has already is not created again,
// and its partitions' records become changes (new partition epoch, leader
// epoch raised when it would not rise) in which b stays a replica wherever
// it is one: the tests move leadership, never b's data.
func publishTestImage(t testing.TB, b *Broker, records ...metadata.Record) {
	t.Helper()
	img := b.image()
	self := b.cfg.NodeID
	var out []metadata.Record
	for _, r := range records {
		switch r := r.(type) {
		case *metadata.RegisterBrokerRecord:
			if r.NodeID == self {
				continue
			}
		case *metadata.TopicRecord:
			if _, ok := img.TopicByID(r.TopicID); ok {
				continue
			}
		case *metadata.PartitionRecord:
			if cur, ok := partitionByID(img, r.TopicID, r.Partition); ok {
				replicas, isr := r.Replicas, r.ISR
				if slices.Contains(cur.Replicas, self) && !slices.Contains(replicas, self) {
					replicas, isr = append(slices.Clone(replicas), self), append(slices.Clone(isr), self)
				}
				out = append(out, &metadata.PartitionChangeRecord{TopicID: r.TopicID, Partition: r.Partition, Replicas: replicas, ISR: isr,
					Leader: r.Leader, LeaderEpoch: max(r.LeaderEpoch, cur.LeaderEpoch+1), PartitionEpoch: cur.PartitionEpoch + 1})
				continue
			}
		case *metadata.PartitionChangeRecord:
			if cur, ok := partitionByID(img, r.TopicID, r.Partition); ok {
				c := *r
				c.LeaderEpoch, c.PartitionEpoch = max(r.LeaderEpoch, cur.LeaderEpoch+1), cur.PartitionEpoch+1
				if c.Replicas != nil && slices.Contains(cur.Replicas, self) && !slices.Contains(c.Replicas, self) {
					c.Replicas = append(slices.Clone(c.Replicas), self)
				}
				r = &c
			}
			out = append(out, r)
			continue
		}
		out = append(out, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctrl := b.quorum.ctrl
	if err := ctrl.Import(ctx, out); err != nil {
		t.Fatalf("committing the test image: %v", err)
	}
	if err := b.awaitApplied(ctx, ctrl.AppliedOffset()); err != nil {
		t.Fatalf("applying the test image: %v", err)
	}
}

// partitionByID is partition p of the topic with id in img.
func partitionByID(img *metadata.Image, id metadata.UUID, p int32) (metadata.Partition, bool) {
	if t, ok := img.TopicByID(id); ok {
		return t.Partition(p)
	}
	return metadata.Partition{}, false
}

// Brokers of the test images: this node (1), node 2 elsewhere (with a
// controller listener listed first, which clients must not be given) and
// node 3, fenced.
const otherHost, otherPort, otherRack = "broker2.test", 19092, "rack-2"

// registerTestBrokers are the RegisterBroker records of nodes 1 (this
// broker, at host:port), 2 and 3 (fenced).
func registerTestBrokers(host string, port uint16) []metadata.Record {
	return []metadata.Record{
		&metadata.RegisterBrokerRecord{NodeID: 1, IncarnationID: metadata.UUID{1}, BrokerEpoch: 1,
			Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: host, Port: port}}},
		&metadata.RegisterBrokerRecord{NodeID: 2, IncarnationID: metadata.UUID{2}, BrokerEpoch: 1, Rack: otherRack,
			Listeners: []metadata.Listener{{Name: "CONTROLLER", Host: otherHost, Port: 9093}, {Name: "PLAINTEXT", Host: otherHost, Port: otherPort}}},
		&metadata.RegisterBrokerRecord{NodeID: 3, IncarnationID: metadata.UUID{3}, BrokerEpoch: 1, Fenced: true,
			Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: "broker3.test", Port: 9092}}},
	}
}

// topicTestRecords are the Topic and Partition records of a topic whose
// partition i is led by leaders[i] (-1: none) at leader epoch 5+i.
func topicTestRecords(name string, id [16]byte, leaders ...int32) []metadata.Record {
	out := []metadata.Record{&metadata.TopicRecord{TopicID: id, Name: name}}
	for i, l := range leaders {
		replicas := []int32{l}
		if l < 0 {
			replicas = []int32{3}
		}
		out = append(out, &metadata.PartitionRecord{TopicID: id, Partition: int32(i), Replicas: replicas, ISR: slices.Clone(replicas),
			Leader: l, LeaderEpoch: 5 + int32(i)})
	}
	return out
}

// routedBroker is a broker with the topic "routed" of four partitions,
// which its image places on node 2, here, nowhere and on fenced node 3,
// and the topic "local" the image does not hold.
func routedBroker(t *testing.T) *dataBroker {
	d := startDataBroker(t, nil)
	d.createTopic("routed", 4, nil)
	d.createTopic("local", 1, nil)
	id := d.b.topic("routed").id
	records := registerTestBrokers("127.0.0.1", 9092)
	records = append(records, topicTestRecords("routed", id, 2, 1, -1, 3)...)
	publishTestImage(t, d.b, records...)
	return d
}

// Expected answers of the partitions of "routed".
var routedWant = []struct {
	err           *kerr.Error
	leader, epoch int32 // KIP-951's current leader
}{
	{kerr.NotLeaderForPartition, 2, 5},
	{nil, -1, -1},
	{kerr.NotLeaderForPartition, -1, 7},
	{kerr.NotLeaderForPartition, 3, 8},
}

// wantOtherEndpoint checks a response's NodeEndpoints: node 2 on the
// client listener only (node 3 is fenced).
func wantOtherEndpoint(t *testing.T, ids []int32, hosts []string, ports []int32, racks []*string) {
	t.Helper()
	if len(ids) != 1 || ids[0] != 2 || hosts[0] != otherHost || ports[0] != otherPort || racks[0] == nil || *racks[0] != otherRack {
		t.Fatalf("node endpoints %v %v %v, want node 2 at %s:%d in %s", ids, hosts, ports, otherHost, otherPort, otherRack)
	}
}

func TestRoutingProduce(t *testing.T) {
	d := routedBroker(t)
	for v := int16(3); v <= 13; v++ {
		t.Run(fmt.Sprint("v", v), func(t *testing.T) {
			req := kmsg.NewPtrProduceRequest()
			req.Version, req.Acks, req.TimeoutMillis = v, 1, 5000
			for _, name := range []string{"routed", "local"} {
				rt := kmsg.NewProduceRequestTopic()
				rt.Topic = name
				if v >= 13 {
					rt.TopicID = d.b.topic(name).id
				}
				parts := 4
				if name == "local" {
					parts = 1
				}
				for p := range parts {
					rp := kmsg.NewProduceRequestTopicPartition()
					rp.Partition = int32(p)
					rp.Records = segment.BuildBatch(nil, 1, []segment.KeyValue{{Value: []byte("v")}})
					rt.Partitions = append(rt.Partitions, rp)
				}
				req.Topics = append(req.Topics, rt)
			}
			rc := dialRaw(t, d.addr)
			rc.send(req, true)
			resp := rc.receive().(*kmsg.ProduceResponse)
			for p, sp := range resp.Topics[0].Partitions {
				want := routedWant[p]
				code(t, fmt.Sprintf("partition %d", p), sp.ErrorCode, want.err)
				leader, epoch := want.leader, want.epoch
				if v < 10 {
					leader, epoch = -1, -1
				}
				if sp.CurrentLeader.LeaderID != leader || sp.CurrentLeader.LeaderEpoch != epoch {
					t.Fatalf("partition %d: current leader %+v, want %d epoch %d", p, sp.CurrentLeader, leader, epoch)
				}
			}
			code(t, "a topic the image does not hold", resp.Topics[1].Partitions[0].ErrorCode, nil)
			if v < 10 {
				if len(resp.Brokers) != 0 {
					t.Fatalf("v%d carries node endpoints %+v", v, resp.Brokers)
				}
				return
			}
			var ids, ports []int32
			var hosts []string
			var racks []*string
			for _, b := range resp.Brokers {
				ids, hosts, ports, racks = append(ids, b.NodeID), append(hosts, b.Host), append(ports, b.Port), append(racks, b.Rack)
			}
			wantOtherEndpoint(t, ids, hosts, ports, racks)
		})
	}
}

func TestRoutingFetch(t *testing.T) {
	d := routedBroker(t)
	produceBatches(t, d, "routed", 1, 2, 10)
	for v := int16(fetchFrameMinVersion); v <= fetchFrameMaxVersion; v++ {
		t.Run(fmt.Sprint("v", v), func(t *testing.T) {
			req := kmsg.NewPtrFetchRequest()
			req.Version, req.MaxBytes, req.SessionEpoch = v, 1<<20, -1
			for _, name := range []string{"routed", "local"} {
				rt := kmsg.NewFetchRequestTopic()
				rt.Topic, rt.TopicID = name, d.b.topic(name).id
				parts := 4
				if name == "local" {
					parts = 1
				}
				for p := range parts {
					rp := kmsg.NewFetchRequestTopicPartition()
					rp.Partition, rp.PartitionMaxBytes = int32(p), 1<<20
					rt.Partitions = append(rt.Partitions, rp)
				}
				req.Topics = append(req.Topics, rt)
			}
			resp := fetchRaw(t, d, req)
			if len(resp.Topics) != 2 {
				t.Fatalf("%d topics answered", len(resp.Topics))
			}
			for p, sp := range resp.Topics[0].Partitions {
				want := routedWant[p]
				if v >= replicaSelectorFetchMinVersion && want.err == kerr.NotLeaderForPartition {
					// This broker stays a replica of every partition
					// (publishTestImage): from v11 a follower serves
					// consumers (fetch_follower.go).
					want.err, want.leader, want.epoch = nil, -1, -1
				}
				code(t, fmt.Sprintf("partition %d", p), sp.ErrorCode, want.err)
				leader, epoch := want.leader, want.epoch
				if v < 16 {
					leader, epoch = -1, -1
				}
				if sp.CurrentLeader.LeaderID != leader || sp.CurrentLeader.LeaderEpoch != epoch {
					t.Fatalf("partition %d: current leader %+v, want %d epoch %d", p, sp.CurrentLeader, leader, epoch)
				}
				if p == 1 && len(batchesIn(t, sp.RecordBatches)) != 2 {
					t.Fatalf("the partition led here: %d batches, want 2", len(batchesIn(t, sp.RecordBatches)))
				}
			}
			code(t, "a topic the image does not hold", resp.Topics[1].Partitions[0].ErrorCode, nil)
			if len(resp.Brokers) != 0 { // KIP-951 endpoints come from v16, and only with redirects
				t.Fatalf("v%d carries node endpoints %+v", v, resp.Brokers)
			}
		})
	}
}

// TestRoutingOtherAPIs: ListOffsets, OffsetForLeaderEpoch and
// DeleteRecords answer NOT_LEADER_OR_FOLLOWER for the partitions led
// elsewhere, at every version, and serve the others.
func TestRoutingOtherAPIs(t *testing.T) {
	d := routedBroker(t)
	produceBatches(t, d, "routed", 1, 2, 10)
	produceBatches(t, d, "local", 0, 2, 10)
	type part struct {
		topic     string
		partition int32
		want      *kerr.Error
	}
	parts := []part{{"local", 0, nil}}
	for p, w := range routedWant {
		parts = append(parts, part{"routed", int32(p), w.err})
	}
	for v := int16(1); v <= 10; v++ {
		for _, p := range parts {
			rc := dialRaw(t, d.addr)
			req := kmsg.NewPtrListOffsetsRequest()
			req.Version = v
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = p.topic
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = p.partition, -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			rc.send(req, true)
			sp := rc.receive().(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
			code(t, fmt.Sprintf("ListOffsets v%d %s-%d", v, p.topic, p.partition), sp.ErrorCode, p.want)
		}
	}
	for v := int16(0); v <= 4; v++ {
		for _, p := range parts {
			rc := dialRaw(t, d.addr)
			req := kmsg.NewPtrOffsetForLeaderEpochRequest()
			req.Version = v
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = p.topic
			rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			rp.Partition, rp.LeaderEpoch = p.partition, 0
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			rc.send(req, true)
			sp := rc.receive().(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
			code(t, fmt.Sprintf("OffsetForLeaderEpoch v%d %s-%d", v, p.topic, p.partition), sp.ErrorCode, p.want)
		}
	}
	for v := int16(0); v <= 2; v++ {
		for _, p := range parts {
			rc := dialRaw(t, d.addr)
			req := kmsg.NewPtrDeleteRecordsRequest()
			req.Version, req.TimeoutMillis = v, 5000
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = p.topic
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Partition, rp.Offset = p.partition, 0
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			rc.send(req, true)
			sp := rc.receive().(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]
			code(t, fmt.Sprintf("DeleteRecords v%d %s-%d", v, p.topic, p.partition), sp.ErrorCode, p.want)
		}
	}
}

// code fails the test unless an error code is want's (nil: none).
func code(t testing.TB, what string, got int16, want *kerr.Error) {
	t.Helper()
	var w int16
	if want != nil {
		w = want.Code
	}
	if got != w {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

// BenchmarkRoutingCheck is the routing check of one partition on the hot
// path (routing.go): the topic's lookup in an image of 1,000 topics and
// the partition's leader, beside the same with the empty image of a single
// node.
func BenchmarkRoutingCheck(b *testing.B) {
	br := newTestBroker(b)
	for _, tc := range []struct {
		name   string
		topics int
	}{{"image=empty", 0}, {"image=1000topics", 1000}} {
		var records []metadata.Record
		for i := range tc.topics {
			records = append(records, topicTestRecords(fmt.Sprint("topic-", i), [16]byte{byte(i), byte(i >> 8), 1}, 1, 2)...)
		}
		img, err := new(metadata.Image).ApplyAll(records)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			elsewhere := 0
			for b.Loop() {
				if _, ok := br.ledElsewhere(imageTopic(img, "topic-500", [16]byte{}, false), 1); ok {
					elsewhere++
				}
			}
			if tc.topics > 0 && elsewhere == 0 {
				b.Fatal("partition 1 of topic-500 is led by node 2")
			}
		})
	}
}

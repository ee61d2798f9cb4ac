package metadata

import (
	"fmt"
	"testing"
)

// benchImage is an image of topics×partitions partitions, each with three
// replicas of six brokers, built with one ApplyAll.
func benchImage(b *testing.B, topics, partitions int) (*Image, []UUID) {
	b.Helper()
	var records []Record
	ids := make([]UUID, topics)
	for t := range topics {
		ids[t] = UUID{byte(t >> 8), byte(t), 0xbe}
		records = append(records, &TopicRecord{TopicID: ids[t], Name: fmt.Sprintf("topic-%05d", t)})
		for p := range partitions {
			replicas := []int32{int32(p % 6), int32((p + 1) % 6), int32((p + 2) % 6)}
			records = append(records, &PartitionRecord{TopicID: ids[t], Partition: int32(p), Replicas: replicas, ISR: replicas, Leader: replicas[0]})
		}
	}
	img, err := new(Image).ApplyAll(records)
	if err != nil {
		b.Fatal(err)
	}
	return img, ids
}

// BenchmarkApplyPartitionChange applies one ISR change (what a follower
// falling behind causes) to an image of 10,000 partitions, spread over
// 1, 100 or 10,000 topics: the cost of copy-on-write for one change.
func BenchmarkApplyPartitionChange(b *testing.B) {
	for _, shape := range []struct{ topics, partitions int }{{1, 10000}, {100, 100}, {10000, 1}} {
		b.Run(fmt.Sprintf("topics=%d/partitions=%d", shape.topics, shape.partitions), func(b *testing.B) {
			img, ids := benchImage(b, shape.topics, shape.partitions)
			shrunk, full := [][]int32{}, [][]int32{}
			for p := range 6 {
				full = append(full, []int32{int32(p % 6), int32((p + 1) % 6), int32((p + 2) % 6)})
				shrunk = append(shrunk, full[p][:2])
			}
			r := &PartitionChangeRecord{Leader: LeaderUnchanged}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				t := i % shape.topics
				p := (i / shape.topics) % shape.partitions
				r.TopicID, r.Partition = ids[t], int32(p)
				topic, _ := img.TopicByID(ids[t])
				cur, _ := topic.Partition(int32(p))
				r.ISR = full[p%6]
				if len(cur.ISR) == 3 {
					r.ISR = shrunk[p%6]
				}
				r.LeaderEpoch, r.PartitionEpoch = cur.LeaderEpoch, cur.PartitionEpoch+1
				next, err := img.Apply(r)
				if err != nil {
					b.Fatal(err)
				}
				img = next
			}
		})
	}
}

// BenchmarkRebuild applies the Records of an image of 10,000 partitions to
// an empty image, one ApplyAll: what loading a metadata snapshot costs.
func BenchmarkRebuild(b *testing.B) {
	for _, shape := range []struct{ topics, partitions int }{{1, 10000}, {10000, 1}} {
		b.Run(fmt.Sprintf("topics=%d/partitions=%d", shape.topics, shape.partitions), func(b *testing.B) {
			img, _ := benchImage(b, shape.topics, shape.partitions)
			records := img.Records()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := new(Image).ApplyAll(records); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

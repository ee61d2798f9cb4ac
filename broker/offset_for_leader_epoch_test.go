package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestOffsetForLeaderEpoch(t *testing.T) {
	d := startDataBroker(t, nil)
	d.createTopic("ofle", 1, nil)
	d.createTopic("ofle-empty", 1, nil)
	produceBatches(t, d, "ofle", 0, 5, 10)
	it, _ := d.b.image().Topic("ofle")
	epoch := leaderEpoch(it, 0) // what produce stamped
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.Version = v
		req.ReplicaID = -1
		for _, topic := range []string{"ofle", "ofle-empty", "nope"} {
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = topic
			for _, epoch := range []int32{epoch, epoch + 1} {
				rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
				rp.LeaderEpoch = epoch
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		rc := dialRaw(t, d.addr)
		rc.send(req, true)
		resp := rc.receive().(*kmsg.OffsetForLeaderEpochResponse)
		type answer struct {
			code   int16
			epoch  int32
			offset int64
		}
		want := [][]answer{
			{{0, epoch, 5}, {0, -1, -1}}, // the current epoch ends at the log end; a newer one is unknown
			{{0, -1, -1}, {0, -1, -1}},   // no epochs recorded yet
			{{kerr.UnknownTopicOrPartition.Code, -1, -1}, {kerr.UnknownTopicOrPartition.Code, -1, -1}},
		}
		for i, rt := range resp.Topics {
			for j, p := range rt.Partitions {
				got := answer{p.ErrorCode, p.LeaderEpoch, p.EndOffset}
				w := want[i][j]
				if v == 0 {
					w.epoch = -1 // not in v0
					got.epoch = -1
				}
				if got != w {
					t.Fatalf("v%d %s epoch %d: got %+v, want %+v", v, rt.Topic, req.Topics[i].Partitions[j].LeaderEpoch, got, w)
				}
			}
		}
	}
	// franz-go's admin view.
	epochs, err := d.admin().OffsetForLeaderEpoch(context.Background(), map[string]map[int32]int32{"ofle": {0: epoch}})
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := epochs["ofle"][0]; !ok || e.Err != nil || e.EndOffset != 5 {
		t.Fatalf("kadm: %+v", e)
	}
}

package controllerclient

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/internal/wait"
)

func TestClientFindsTheNewActiveControllerAfterALeaderChange(t *testing.T) {
	tq := newTestQuorum(t, 0)
	c := tq.client()
	b := startBroker(t, tq, c, 4)
	wait.Until(t, 10*time.Second, "broker 4 unfenced", func() bool { return fencedInImage(tq, 4, false) })
	createTopic(t, c, "before", 1)

	old := tq.active().Node().ID()
	tq.stop(old)
	createTopic(t, c, "after", 1) // retried until the new active controller answers
	now := tq.active().Node().ID()
	if now == old {
		t.Fatalf("controller %d still active after it stopped", old)
	}
	if _, ok := tq.image().Topic("after"); !ok {
		t.Fatal("the topic created after the leader change is not in the new controller's image")
	}

	// CommittedOffset is the new leader's high watermark, which the
	// broker's follower reaches.
	applied := tq.active().AppliedOffset()
	hw, err := c.CommittedOffset(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if hw < applied+1 {
		t.Fatalf("high watermark %d, active controller applied %d", hw, applied)
	}
	if err := b.f.WaitApplied(testCtx(t), hw-1); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.f.Holder().Load().Topic("after"); !ok {
		t.Fatal("the follower's image at the committed offset lacks the topic")
	}

	// The stopped controller comes back and follows; the broker is still
	// served (its heartbeats kept it unfenced through the change).
	tq.start(old)
	wait.Until(t, 10*time.Second, "the restarted controller caught up", func() bool {
		return tq.controller(old).Image().Hash() == tq.image().Hash()
	})
	if !fencedInImage(tq, 4, false) {
		t.Fatal("broker 4 fenced after the leader change")
	}
}

func TestClientWithBootstrapServersOnly(t *testing.T) {
	tq := newTestQuorum(t, 0)
	var addrs []string
	for _, id := range tq.voters {
		addrs = append(addrs, tq.addrs[int32(id)-1])
	}
	c, err := New(Config{BootstrapServers: addrs, MinBackoff: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A new leader's high watermark is unknown (-1, as in Kafka) until it commits an entry of
	// its own term: wait for that, not for a time.
	var p *kmsg.DescribeQuorumResponseTopicPartition
	wait.Until(t, 10*time.Second, "the quorum has a high watermark", func() bool {
		var err error
		if p, err = c.DescribeQuorum(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		return p.HighWatermark > 0
	})
	if want := int32(tq.active().Node().ID()) - 1; p.LeaderID != want || len(p.CurrentVoters) != 3 {
		t.Fatalf("DescribeQuorum: leader %d (want %d), %d voters, high watermark %d", p.LeaderID, want, len(p.CurrentVoters), p.HighWatermark)
	}
}

func TestClientGivesUpWhenTheContextEnds(t *testing.T) {
	c, err := New(Config{Voters: map[int32]string{1: "127.0.0.1:1"}, MinBackoff: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.CommittedOffset(ctx)
	if !errors.Is(err, ErrNoController) {
		t.Fatalf("err %v, want ErrNoController", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("gave up after %v", took)
	}
}

func TestNotActiveFindsTheErrorCodeAnywhere(t *testing.T) {
	create := kmsg.NewPtrCreateTopicsResponse()
	create.Topics = []kmsg.CreateTopicsResponseTopic{{ErrorCode: 0}, {ErrorCode: kerr.NotController.Code}}
	fetch := kmsg.NewPtrFetchResponse()
	fetch.Topics = []kmsg.FetchResponseTopic{{Partitions: []kmsg.FetchResponseTopicPartition{{ErrorCode: kerr.NotLeaderForPartition.Code, RecordBatches: []byte{1, 2}}}}}
	heartbeat := kmsg.NewPtrBrokerHeartbeatResponse()
	heartbeat.ErrorCode = kerr.StaleBrokerEpoch.Code
	// A leader that no longer leads: the active controller's own answer.
	alter := kmsg.NewPtrAlterPartitionResponse()
	alter.Topics = []kmsg.AlterPartitionResponseTopic{{Partitions: []kmsg.AlterPartitionResponseTopicPartition{{ErrorCode: kerr.NotLeaderForPartition.Code}}}}
	for _, tt := range []struct {
		resp kmsg.Response
		want bool
	}{
		{create, true},
		{fetch, true},
		{heartbeat, false},
		{alter, false},
		{kmsg.NewPtrCreateTopicsResponse(), false},
	} {
		t.Run(fmt.Sprintf("%T", tt.resp), func(t *testing.T) {
			if got := notActive(reflect.ValueOf(tt.resp), raftAPIs[tt.resp.Key()]); got != tt.want {
				t.Fatalf("notActive = %v, want %v", got, tt.want)
			}
		})
	}
}

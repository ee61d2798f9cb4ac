package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/internal/wait"
)

func TestCheckThrottledReplicas(t *testing.T) {
	for v, ok := range map[string]bool{
		"": true, "*": true, " * ": true, "0:1": true, "0:1,1:2, 2:3": true,
		"0": false, "a:1": false, "0:1,": false, "0:-1": false, "*,0:1": false, "0:1:2": false,
	} {
		if err := checkThrottledReplicas(v); (err == nil) != ok {
			t.Errorf("checkThrottledReplicas(%q) = %v, want ok %v", v, err, ok)
		}
	}
	for _, c := range []struct {
		list            string
		partition, node int32
		want            bool
	}{{"*", 3, 7, true}, {"0:1,3:7", 3, 7, true}, {"0:1, 3:7", 3, 7, true}, {"0:7,3:1", 3, 7, false}, {"", 0, 0, false}} {
		if got := throttledReplica(c.list, c.partition, c.node); got != c.want {
			t.Errorf("throttledReplica(%q, %d, %d) = %v", c.list, c.partition, c.node, got)
		}
	}
}

// TestThrottleBucket: a bucket starts with a second's worth, may be
// overdrawn by what was sent, refills at the rate up to one second's worth.
func TestThrottleBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	bk := &throttleBucket{now: func() time.Time { return now }}
	bk.setRate(1000)
	if !bk.Allowed() {
		t.Fatal("a fresh bucket is not allowed")
	}
	bk.Record(1500) // one batch over the second's worth goes through
	if bk.Allowed() {
		t.Fatal("an overdrawn bucket is allowed")
	}
	now = now.Add(400 * time.Millisecond) // -500 + 400
	if bk.Allowed() {
		t.Fatal("allowed before the debt is paid")
	}
	now = now.Add(200 * time.Millisecond) // +100
	if !bk.Allowed() {
		t.Fatal("not allowed once refilled")
	}
	now = now.Add(time.Hour)
	bk.Record(1001) // a second's worth at most was saved
	if bk.Allowed() {
		t.Fatal("the bucket held more than a second's worth")
	}
	bk.setRate(2000) // a new rate applies from now
	now = now.Add(time.Millisecond)
	if !bk.Allowed() {
		t.Fatal("the new rate did not refill")
	}
}

// TestReplicationThrottleConfigs: the rates are dynamic broker configs
// (this broker's, else the cluster's) and the replicas topic configs, set
// through kadm and checked by the controller; replicationThrottle gives a
// bucket exactly for the replicas named on this broker.
func TestReplicationThrottleConfigs(t *testing.T) {
	b := startCluster(t, 1)[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	str := func(s string) *string { return &s }

	if r, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"leader.replication.throttled.replicas": str("x:y")}, "bad"); err == nil && !errors.Is(r.Err, kerr.InvalidConfig) {
		t.Errorf("a bad throttled replicas list: %v", r.Err)
	}
	if r, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{
		"leader.replication.throttled.replicas":   str("0:0"),
		"follower.replication.throttled.replicas": str("*"),
	}, "th"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	alter := func(name, value string, brokers ...int32) error {
		t.Helper()
		resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: name, Value: &value}}, brokers...)
		if err != nil {
			return err
		}
		return resps[0].Err
	}
	if err := alter("log.retention.ms", "1000", 0); !errors.Is(err, kerr.InvalidRequest) {
		t.Errorf("a static broker config: %v, want INVALID_REQUEST", err)
	}
	if err := alter("follower.replication.throttled.rate", "-5", 0); !errors.Is(err, kerr.InvalidConfig) {
		t.Errorf("a negative rate: %v, want INVALID_CONFIG", err)
	}
	if b.replicationThrottle(followerSide, "th", 0) != nil {
		t.Fatal("throttled before any rate is set")
	}
	if err := alter("follower.replication.throttled.rate", "1000", 0); err != nil {
		t.Fatal(err)
	}
	if err := alter("leader.replication.throttled.rate", "5000"); err != nil { // cluster-wide
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "both throttles applied", func() bool {
		return b.replicationThrottle(followerSide, "th", 1) != nil && b.replicationThrottle(leaderSide, "th", 0) != nil
	})
	if b.replicationThrottle(leaderSide, "th", 1) != nil {
		t.Error("partition 1 is throttled on the leader side, which names 0:0 only")
	}
	if b.replicationThrottle(followerSide, "other", 0) != nil {
		t.Error("a topic without throttled replicas is throttled")
	}
	described, err := adm.DescribeBrokerConfigs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]kmsg.ConfigSource{
		"follower.replication.throttled.rate": kmsg.ConfigSourceDynamicBrokerConfig,
		"leader.replication.throttled.rate":   kmsg.ConfigSourceDynamicDefaultBrokerConfig,
	} {
		rc, err := described.On("0", nil)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, c := range rc.Configs {
			if c.Key == name {
				found = true
				if c.Source != want || c.Value == nil || *c.Value == "9223372036854775807" {
					t.Errorf("%s described as %v %v", name, c.Source, c.MaybeValue())
				}
			}
		}
		if !found {
			t.Errorf("%s not described", name)
		}
	}
	bk := b.replicationThrottle(followerSide, "th", 0)
	bk.mu.Lock()
	rate := bk.mu.rate
	bk.mu.Unlock()
	if rate != 1000 {
		t.Errorf("follower rate %d, want 1000", rate)
	}
}

// TestReplicationThrottledCopy: a reassignment's copy to a new replica,
// throttled on one side (the leader's sending, or the new follower's
// fetching), takes about as long as its bytes over the rate: not much
// less, as an unthrottled copy would, and not many times more. The bucket
// starts a second full, so the copy may take a second less. Once the new
// replica has caught up it is in sync, and joins the ISR.
func TestReplicationThrottledCopy(t *testing.T) {
	const (
		records = 30
		size    = 10_000
		rate    = 100_000 // bytes/s: the copy takes about 3 s
	)
	for _, c := range []struct {
		side             replicationSide
		throttledBroker  int32 // where the rate is set, and the replica the list names
		replicasListName string
	}{
		{leaderSide, 0, throttledReplicasKey[leaderSide]},
		{followerSide, 1, throttledReplicasKey[followerSide]},
	} {
		t.Run(throttledRateKey[c.side], func(t *testing.T) {
			// Small fetches, so that the rate is kept fetch by fetch.
			brokers := startCluster(t, 3, "replica.fetch.max.bytes=16384", "replica.fetch.backoff.ms=50", "replica.fetch.wait.max.ms=100")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cl := mustClient(t, brokers[0])
			adm := kadm.NewClient(cl)
			create := kmsg.NewPtrCreateTopicsRequest()
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "copy", -1, -1
			ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			ra.Partition, ra.Replicas = 0, []int32{0}
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
			create.Topics = append(create.Topics, rt)
			if resp, err := create.RequestWith(ctx, cl); err != nil || resp.Topics[0].ErrorCode != 0 {
				t.Fatalf("create: %v %+v", err, resp)
			}
			wait.Until(t, 10*time.Second, "broker 0 holds the partition", func() bool {
				return brokers[0].topic("copy") != nil && brokers[0].topic("copy").partitionAt(0) != nil
			})
			value := strings.Repeat("x", size)
			for range records {
				if p := produceTo(t, brokers[0], "copy", 1, value); p.ErrorCode != 0 {
					t.Fatalf("produce: %v", kerr.ErrorForCode(p.ErrorCode))
				}
			}
			bytes := brokers[0].topic("copy").partitionAt(0).log.Size()

			list := fmt.Sprintf("0:%d", c.throttledBroker)
			if resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: c.replicasListName, Value: &list}}, "copy"); err != nil || resps[0].Err != nil {
				t.Fatalf("throttled replicas: %v %+v", err, resps)
			}
			r := strconv.Itoa(rate)
			if resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: throttledRateKey[c.side], Value: &r}}, c.throttledBroker); err != nil || resps[0].Err != nil {
				t.Fatalf("throttled rate: %v %+v", err, resps)
			}
			wait.Until(t, 10*time.Second, "the throttle applied", func() bool {
				return brokers[c.throttledBroker].replicationThrottle(c.side, "copy", 0) != nil
			})

			var req kadm.AlterPartitionAssignmentsReq
			req.Assign("copy", 0, []int32{0, 1})
			start := time.Now()
			if resps, err := adm.AlterPartitionAssignments(ctx, req); err != nil || resps["copy"][0].Err != nil {
				t.Fatalf("AlterPartitionAssignments: %v %+v", err, resps)
			}
			wait.Until(t, 60*time.Second, "broker 1 copied the partition", func() bool {
				tp := brokers[1].topic("copy")
				return tp != nil && tp.partitionAt(0) != nil && tp.partitionAt(0).log.EndOffset() == records
			})
			took := time.Since(start)
			ratio := took.Seconds() / (float64(bytes) / rate)
			t.Logf("%d bytes at %d bytes/s: %v, %.2f of bytes/rate", bytes, rate, took, ratio)
			if ratio < 0.4 || ratio > 3 {
				t.Errorf("the copy took %.2f times bytes/rate, want about 1", ratio)
			}
			wait.Until(t, 30*time.Second, "the reassignment completes", func() bool {
				p, _ := brokers[0].image().Partition("copy", 0)
				return slices.Equal(p.ISR, []int32{0, 1}) && len(p.AddingReplicas) == 0
			})
		})
	}
}

package broker

import (
	"context"
	"errors"
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

// TestThrottleBucketWait: Wait returns once the debt is paid at the rate.
func TestThrottleBucketWait(t *testing.T) {
	var bk throttleBucket
	bk.setRate(100_000)
	bk.Record(100_000 + 5_000) // 50 ms of debt
	start := time.Now()
	if err := bk.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Fatalf("waited %v for 50 ms of debt", waited)
	}
	bk.setRate(0) // nothing refills: only the context ends the wait
	bk.Record(1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := bk.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait at rate 0: %v", err)
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

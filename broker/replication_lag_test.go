package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/internal/wait"
)

// TestReplicationLagMetrics: with a follower of the ISR stopped (its
// fetchers closed, its broker up, replica.lag.time.max.ms long enough to
// keep it in the ISR), the leader's runnel_isr_max_seconds_since_caught_up
// grows, while the follower still fetching stays caught up: its
// runnel_replica_max_seconds_since_caught_up stays low and its lag in
// bytes is 0 (the high watermark waits for the stopped one).
// replica.TestFetchersLag tests a follower left behind.
func TestReplicationLagMetrics(t *testing.T) {
	brokers := startCluster(t, 3, "replica.lag.time.max.ms=60000", "replica.fetch.wait.max.ms=100")
	const topic = "lagging"
	adm := kadm.NewClient(mustClient(t, brokers[0]))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")}, topic); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "every broker holds the partition", func() bool {
		for _, b := range brokers {
			if t := b.topic(topic); t == nil || t.partitionAt(0) == nil {
				return false
			}
		}
		return true
	})
	part := imagePartition(brokers[0], topic, 0)
	leader := brokers[part.Leader]
	var followers []*Broker
	for _, b := range brokers {
		if b != leader {
			followers = append(followers, b)
		}
	}
	if sp := produceTo(t, leader, topic, -1, "all"); sp.ErrorCode != 0 {
		t.Fatalf("acks=all produce: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	const slow = time.Second
	if got := gaugeValue(t, leader, "runnel_isr_max_seconds_since_caught_up"); got >= slow.Seconds() {
		t.Errorf("runnel_isr_max_seconds_since_caught_up %v with every follower fetching", got)
	}

	stopped, live := followers[0], followers[1]
	stopped.repl.fetchers.Close()
	if sp := produceTo(t, leader, topic, 1, "one"); sp.ErrorCode != 0 {
		t.Fatalf("acks=1 produce: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	stoppedAt := time.Now()
	wait.Until(t, 10*time.Second, "the leader's runnel_isr_max_seconds_since_caught_up past "+slow.String(), func() bool {
		return gaugeValue(t, leader, "runnel_isr_max_seconds_since_caught_up") >= slow.Seconds()
	})
	if got, bound := gaugeValue(t, leader, "runnel_isr_max_seconds_since_caught_up"), time.Since(stoppedAt)+time.Second; got > bound.Seconds() {
		t.Errorf("runnel_isr_max_seconds_since_caught_up %v, more than the %v since the follower stopped", got, bound)
	}
	if isr := imagePartition(leader, topic, 0).ISR; len(isr) != 3 {
		t.Fatalf("ISR %v: the stopped follower left it, the test measured nothing", isr)
	}
	if got := gaugeValue(t, live, "runnel_replica_max_seconds_since_caught_up"); got >= slow.Seconds() {
		t.Errorf("the live follower's runnel_replica_max_seconds_since_caught_up %v", got)
	}
	if got := gaugeValue(t, live, "runnel_replica_max_lag_bytes"); got != 0 {
		t.Errorf("the live follower's runnel_replica_max_lag_bytes %v, want 0: it is past the high watermark", got)
	}
}

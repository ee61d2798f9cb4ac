package broker

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker/replica"
	"runnel/internal/wait"
)

// followerSessions are the sizes of the followers' sessions b holds.
func followerSessions(b *Broker) []int {
	c := b.fetchSessions
	c.mu.Lock()
	defer c.mu.Unlock()
	var sizes []int
	for _, s := range c.sessions {
		if s.privileged {
			s.mu.Lock()
			sizes = append(sizes, len(s.parts))
			s.mu.Unlock()
		}
	}
	return sizes
}

// traffic is the followers' Fetch traffic summed over the brokers.
func (rt *replicaTest) traffic() replica.FetchTraffic {
	var sum replica.FetchTraffic
	for _, b := range rt.brokers {
		t := b.repl.fetchers.Traffic()
		sum.Requests += t.Requests
		sum.RequestBytes += t.RequestBytes
		sum.ResponseBytes += t.ResponseBytes
	}
	return sum
}

// idleTraffic is the followers' Fetch traffic over rounds more requests
// from now, and the process's CPU time meanwhile.
func (rt *replicaTest) idleTraffic(t *testing.T, rounds int64) (replica.FetchTraffic, time.Duration, time.Duration) {
	t.Helper()
	before, cpu0, start := rt.traffic(), cpuTime(t), time.Now()
	wait.Until(t, 60*time.Second, fmt.Sprintf("%d fetch rounds", rounds), func() bool { return rt.traffic().Requests >= before.Requests+rounds })
	after := rt.traffic()
	return replica.FetchTraffic{Requests: after.Requests - before.Requests, RequestBytes: after.RequestBytes - before.RequestBytes,
		ResponseBytes: after.ResponseBytes - before.ResponseBytes}, cpuTime(t) - cpu0, time.Since(start)
}

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestReplicaFetchSessions: followers fetch through sessions (KIP-227).
// Once each follower has a session with each leader, an idle topic's
// fetches name no partition and their answers hold none; records still
// reach the followers byte for byte; a partition a follower stops
// following leaves its session (ForgottenTopics) and comes back; a leader
// that loses its sessions (as in a restart) gets full fetches again and
// new sessions.
func TestReplicaFetchSessions(t *testing.T) {
	rt := startReplicaTest(t)
	const partitions = 30
	leaders := rt.createTopic(t, "sess", partitions)
	perLeader := map[int32]int{}
	for _, l := range leaders {
		perLeader[l]++
	}
	allSessions := func() bool {
		for node, b := range rt.brokers {
			sizes := followerSessions(b)
			if len(sizes) != 2 || sizes[0] != perLeader[int32(node)] || sizes[1] != perLeader[int32(node)] {
				return false
			}
		}
		return true
	}
	wait.Until(t, 20*time.Second, "each follower holding a session of all its partitions with each leader", allSessions)

	// The first incremental round sends the high watermarks the leaders
	// learnt since the full fetches; the rounds after it are idle.
	rt.idleTraffic(t, 6)
	idle, _, _ := rt.idleTraffic(t, 12)
	reqAvg, respAvg := idle.RequestBytes/idle.Requests, idle.ResponseBytes/idle.Requests
	t.Logf("idle %d partitions: %d bytes per request, %d per response", partitions, reqAvg, respAvg)
	// A full fetch of 5 partitions or more is over 200 bytes; an
	// incremental one naming none is the header and a client id.
	if reqAvg > 100 || respAvg > 40 {
		t.Errorf("idle fetches of %d and %d bytes: partitions were named", reqAvg, respAvg)
	}

	p, leader := int32(3), leaders[3]
	for i := range 5 {
		if r := produceTo(t, rt.brokers[leader], "sess", -1, "v"+strconv.Itoa(i)); r.ErrorCode != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	}
	rt.awaitSameLogs(t, "sess", p, leader)

	// Unfollowed on the followers: the next incremental fetch forgets it.
	rt.pause("sess", p, leader)
	wait.Until(t, 10*time.Second, "the partition forgotten by the leader's sessions", func() bool {
		sizes := followerSessions(rt.brokers[leader])
		return len(sizes) == 2 && sizes[0] == perLeader[leader]-1 && sizes[1] == perLeader[leader]-1
	})
	rt.resume("sess", p, leader)
	wait.Until(t, 10*time.Second, "the partition back in the sessions", allSessions)

	// The leader loses its sessions: the followers' next fetches get
	// FETCH_SESSION_ID_NOT_FOUND and start over with full ones.
	c := rt.brokers[leader].fetchSessions
	c.mu.Lock()
	for _, s := range c.sessions {
		c.removeLocked(s)
	}
	c.mu.Unlock()
	if r := produceTo(t, rt.brokers[leader], "sess", -1, "after"); r.ErrorCode != 0 {
		t.Fatalf("produce after the sessions were lost: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	wait.Until(t, 20*time.Second, "new sessions after the loss", allSessions)
	rt.awaitSameLogs(t, "sess", p, leader)
}

// TestReplicaFetchIdleTraffic measures the followers' Fetch traffic and
// the process's CPU on an idle RF=3 topic of many partitions over three
// brokers, with fetch sessions and without (a leader with no session slots:
// every fetch full, every partition answered, as before sessions):
// RUNNEL_IDLE_PARTITIONS=1000 go test ./broker -run
// TestReplicaFetchIdleTraffic -v. Skipped unless asked for.
func TestReplicaFetchIdleTraffic(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("RUNNEL_IDLE_PARTITIONS"))
	if n <= 0 {
		t.Skip("RUNNEL_IDLE_PARTITIONS not set")
	}
	type figures struct{ bytesPerSec, cpu float64 }
	measure := func(t *testing.T, slots int) figures {
		rt := &replicaTest{brokers: startCluster(t, 3, "runnel.segment.preallocate.bytes=4096", "log.index.size.max.bytes=4096",
			"max.incremental.fetch.session.cache.slots="+strconv.Itoa(slots))}
		rt.createTopic(t, "idle", int32(n))
		wait.Until(t, 60*time.Second, "the followers in their sessions", func() bool {
			for _, b := range rt.brokers {
				if slots > 0 && len(followerSessions(b)) != 2 {
					return false
				}
			}
			return true
		})
		rt.idleTraffic(t, 12) // the leaders' high watermarks settle
		idle, cpu, elapsed := rt.idleTraffic(t, 60)
		secs := elapsed.Seconds()
		f := figures{float64(idle.RequestBytes+idle.ResponseBytes) / secs, cpu.Seconds() / secs}
		t.Logf("idle, %d partitions RF=3, %d session slots: %.1f fetches/s, %.0f request bytes/s, %.0f response bytes/s, %.0f total bytes/s, CPU %.1f%% of a core",
			n, slots, float64(idle.Requests)/secs, float64(idle.RequestBytes)/secs, float64(idle.ResponseBytes)/secs, f.bytesPerSec, 100*f.cpu)
		return f
	}
	var full, sessions figures
	t.Run("full fetches", func(t *testing.T) { full = measure(t, 0) })
	t.Run("sessions", func(t *testing.T) { sessions = measure(t, defaultFetchSessionCacheSlots) })
	t.Logf("sessions / full fetches: bytes %.4f, CPU %.3f", sessions.bytesPerSec/full.bytesPerSec, sessions.cpu/full.cpu)
}

// TestFirstProduceOnNewTopic times the first acks=all produce to new RF=3
// topics, from the CreateTopics answer: the followers' first fetches may
// reach a leader that has not applied the new image yet, and are retried
// after 50 ms rather than replica.fetch.backoff.ms (1 s). The figure is
// logged; the choice of the short wait is TestFetcherLeaderBehind's.
func TestFirstProduceOnNewTopic(t *testing.T) {
	rt := startReplicaTest(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(rt.brokers[0].Addr().String()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var worst, total time.Duration
	const topics = 5
	for i := range topics {
		topic := "new" + strconv.Itoa(i)
		start := time.Now()
		if _, err := adm.CreateTopic(ctx, 1, 3, nil, topic); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("first")}).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
		took := time.Since(start)
		worst, total = max(worst, took), total+took
	}
	t.Logf("the first acks=all produce to a new RF=3 topic, from its creation: %v on average, %v at worst (replica.fetch.backoff.ms 1 s)", total/topics, worst)
}

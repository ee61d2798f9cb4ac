package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/brokertest"
	"runnel/internal/wait"
)

// TestDumpLogOffsetsDecoder dumps __consumer_offsets as a broker wrote it: a
// kgo consumer group's join (group metadata) and commits, the group's
// deletion (tombstones), then many commits of another group; first as
// written, then after the log cleaner compacted it, where offsets have gaps
// and the batches that kept tombstones carry their delete horizon.
func TestDumpLogOffsetsDecoder(t *testing.T) {
	dir := t.TempDir()
	settings := []string{"log.dirs=" + dir, "offsets.topic.num.partitions=1", "group.initial.rebalance.delay.ms=0",
		"log.cleaner.backoff.ms=20", "runnel.segment.preallocate.bytes=4096"}
	b := brokertest.Start(t, append(settings, "log.cleaner.enable=false")...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := b.Admin(t)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	before := time.Now().UnixMilli()
	producer := b.Client(t, kgo.DefaultProduceTopic("t"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(2) {
		for range 3 {
			if err := producer.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	consumer := b.Client(t, kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("t"), kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(100*time.Millisecond))
	for read := 0; read < 6; {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		read += fs.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	consumer.Close() // leaves the group, empty now
	if rs, err := adm.DeleteGroups(ctx, "billing"); err != nil || rs["billing"].Err != nil {
		t.Fatal(err, rs)
	}
	// Tiny segments from here, so that the cleaner has whole segments to take.
	if rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Name: "segment.bytes", Value: kadm.StringPtr("4096")},
		{Name: "min.cleanable.dirty.ratio", Value: kadm.StringPtr("0.01")},
	}, "__consumer_offsets"); err != nil || rs[0].Err != nil {
		t.Fatal(err, rs)
	}
	const auditCommits = 120
	for i := range auditCommits {
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: "t", Partition: int32(i % 2), At: int64(i), LeaderEpoch: -1})
		if _, err := adm.CommitOffsets(ctx, "audit", offs); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	partition := filepath.Join(dir, "__consumer_offsets-0")
	first := filepath.Join(partition, base+".log")
	out := mustRun(t, "", "dump-log", "--offsets-decoder", "--files", first)
	// The group's join: group metadata with its one member and the partitions it was assigned.
	joined := regexp.MustCompile(`\| offset: \d+ .* key: \{"type":"2","data":\{"group":"billing"\}\} payload: \{"version":"3","data":\{"protocolType":"consumer","generation":1,"protocol":"[a-z-]+","leader":"([^"]+)","currentStateTimestamp":\d+,"members":\[\{"memberId":"([^"]+)","groupInstanceId":null,"clientId":"kgo","clientHost":"[^"]+","rebalanceTimeout":\d+,"sessionTimeout":\d+,"subscriptionSize":\d+,"assignmentSize":(\d+)\}\]\}\}`).FindStringSubmatch(out)
	if joined == nil || joined[1] != joined[2] || joined[3] == "0" {
		t.Errorf("no group metadata of billing's join with an assignment in:\n%s", out)
	}
	for p := range 2 {
		commit := regexp.MustCompile(`key: \{"type":"1","data":\{"group":"billing","topic":"t","partition":` + strconv.Itoa(p) +
			`\}\} payload: \{"version":"3","data":\{"offset":3,"leaderEpoch":0,"metadata":"[^"]*","commitTimestamp":(\d+)\}\}`).FindStringSubmatch(out)
		if commit == nil {
			t.Errorf("no commit of billing's offset 3 on t-%d in:\n%s", p, out)
			continue
		}
		if ts, _ := strconv.ParseInt(commit[1], 10, 64); ts < before || ts > time.Now().UnixMilli() {
			t.Errorf("commit timestamp %d is not between the test's start %d and now", ts, before)
		}
		if !strings.Contains(out, `key: {"type":"1","data":{"group":"billing","topic":"t","partition":`+strconv.Itoa(p)+`}} payload: <DELETE>`) {
			t.Errorf("no tombstone of billing's offset on t-%d in:\n%s", p, out)
		}
	}
	if !strings.Contains(out, `key: {"type":"2","data":{"group":"billing"}} payload: <DELETE>`) {
		t.Errorf("no tombstone of group billing in:\n%s", out)
	}
	if strings.Contains(out, "OptionalLong[") || !strings.Contains(out, "deleteHorizonMs: OptionalLong.empty") {
		t.Errorf("a delete horizon in a log the cleaner has not touched:\n%s", out)
	}

	// Now the cleaner: it compacts every segment but the active one.
	b = brokertest.Start(t, settings...)
	wait.Until(t, 30*time.Second, "the cleaner to clean __consumer_offsets-0", func() bool {
		cp, _ := os.ReadFile(filepath.Join(dir, "cleaner-offset-checkpoint"))
		return strings.Contains(string(cp), "__consumer_offsets 0 ")
	})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	segments, err := filepath.Glob(filepath.Join(partition, "*.log"))
	if err != nil || len(segments) < 2 {
		t.Fatalf("segments of __consumer_offsets-0: %v %v", segments, err)
	}
	out = mustRun(t, "", append([]string{"dump-log", "--offsets-decoder", "--files"}, segments...)...)
	recordOffsets := regexp.MustCompile(`(?m)^\| offset: (\d+) `).FindAllStringSubmatch(out, -1)
	gaps := 0
	if len(recordOffsets) > 0 && recordOffsets[0][1] != "0" {
		gaps++ // the first records were cleaned away
	}
	for i := 1; i < len(recordOffsets); i++ {
		prev, _ := strconv.Atoi(recordOffsets[i-1][1])
		cur, _ := strconv.Atoi(recordOffsets[i][1])
		if cur <= prev {
			t.Errorf("offset %d after %d in the cleaned segment", cur, prev)
		}
		if cur > prev+1 {
			gaps++
		}
	}
	if gaps == 0 {
		t.Errorf("no gaps between offsets in the cleaned log:\n%s", out)
	}
	// The tombstones are kept until their horizon (delete.retention.ms, a day), and their batches
	// say when that is; what they deleted is gone.
	horizon := regexp.MustCompile(`deleteHorizonMs: OptionalLong\[(\d+)\] position: .*\n(?:\| .*\n)*?\| offset: \d+ .* key: \{"type":"2","data":\{"group":"billing"\}\} payload: <DELETE>`).FindStringSubmatch(out)
	if horizon == nil {
		t.Fatalf("no delete horizon on the batch of billing's tombstone in the cleaned segment:\n%s", out)
	}
	if ms, _ := strconv.ParseInt(horizon[1], 10, 64); ms < before+23*time.Hour.Milliseconds() {
		t.Errorf("delete horizon %d, want about a day (delete.retention.ms) after %d", ms, before)
	}
	if strings.Contains(out, `"group":"billing"}} payload: {`) || strings.Contains(out, `"group":"billing","topic":"t","partition":0}} payload: {`) {
		t.Errorf("billing's records survive their tombstones in the cleaned segment:\n%s", out)
	}
	if !strings.Contains(out, "isvalid: true") || strings.Contains(out, "isvalid: false") {
		t.Errorf("the cleaned segment does not read back valid:\n%s", out)
	}
}

// TestOffsetsRecordText: the versions of the records a broker does not write now (a v1 offset
// commit, from Kafka before 2.1, with its expire timestamp) print their own fields, and keys of
// records __consumer_offsets does not hold are errors.
func TestOffsetsRecordText(t *testing.T) {
	v1 := kmsg.NewOffsetCommitValue()
	v1.Version, v1.Offset, v1.Metadata, v1.CommitTimestamp, v1.ExpireTimestamp = 1, 42, "m", 1000, 2000
	key := (&kmsg.OffsetCommitKey{Version: 1, Group: "g", Topic: "t", Partition: 3}).AppendTo(nil)
	k, v, err := offsetsRecordText(key, v1.AppendTo(nil))
	if err != nil || k != `{"type":"1","data":{"group":"g","topic":"t","partition":3}}` ||
		v != `{"version":"1","data":{"offset":42,"metadata":"m","commitTimestamp":1000,"expireTimestamp":2000}}` {
		t.Errorf("v1 offset commit: %s %s %v", k, v, err)
	}
	for _, key := range [][]byte{nil, {0}, {0, 9, 0, 1, 'g'}} {
		if _, _, err := offsetsRecordText(key, nil); err == nil {
			t.Errorf("key %v decoded", key)
		}
	}
}

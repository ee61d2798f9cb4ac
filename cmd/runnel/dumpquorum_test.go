package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/controller"
	"runnel/broker/metadata"
	"runnel/broker/quorum"
	"runnel/internal/wait"
	"runnel/segment"
)

// writeMetadataLog runs a one-voter controller quorum in dir (on a
// LocalNetwork) that registers and unfences broker 1, creates topic orders
// with two partitions, sets a config on it, creates and deletes topic gone,
// snapshotting every few entries; it returns the partition directory.
func writeMetadataLog(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), quorum.Partition.DirName())
	quiet := slog.New(slog.DiscardHandler)
	seg := segment.DefaultConfig()
	seg.SegmentBytes, seg.PreallocateBytes = 1<<20, 16<<10
	s, err := quorum.Open(dir, quorum.Options{Segment: seg, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	net := quorum.NewLocalNetwork()
	c, err := controller.New(controller.Config{
		Node: quorum.NodeConfig{ID: 1, Voters: []uint64{1}, Storage: s, Transport: net.Transport(1),
			TickInterval: 5 * time.Millisecond, ElectionTick: 10, HeartbeatTick: 1, SnapshotEvery: 4, CatchUpEntries: 1000, Logger: quiet},
		Logger: quiet,
	})
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	net.Attach(c.Node())
	defer func() { net.Detach(1); c.Close(); s.Close() }()
	wait.Until(t, 10*time.Second, "an active controller", c.Active)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	reg := kmsg.NewPtrBrokerRegistrationRequest()
	reg.BrokerID, reg.Rack, reg.IncarnationID = 1, kmsg.StringPtr("r1"), [16]byte{1}
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port = "PLAINTEXT", "127.0.0.1", 9092
	reg.Listeners = append(reg.Listeners, l)
	regResp := c.RegisterBroker(ctx, reg)
	if err := kerr.ErrorForCode(regResp.ErrorCode); err != nil {
		t.Fatal("registering broker 1:", err)
	}
	hb := kmsg.NewPtrBrokerHeartbeatRequest()
	hb.BrokerID, hb.BrokerEpoch, hb.CurrentMetadataOffset = 1, regResp.BrokerEpoch, c.AppliedOffset()
	if resp := c.BrokerHeartbeat(ctx, hb); resp.ErrorCode != 0 || resp.IsFenced {
		t.Fatalf("heartbeat of broker 1: %+v", resp)
	}
	create := func(name string, partitions int32) {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
		req.Topics = append(req.Topics, rt)
		if err := kerr.ErrorForCode(c.CreateTopics(ctx, req).Topics[0].ErrorCode); err != nil {
			t.Fatalf("creating %s: %v", name, err)
		}
	}
	create("orders", 2)
	alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, "orders"
	cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	cfg.Name, cfg.Value = "retention.ms", kmsg.StringPtr("60000")
	res.Configs = append(res.Configs, cfg)
	alter.Resources = append(alter.Resources, res)
	if err := kerr.ErrorForCode(c.IncrementalAlterConfigs(ctx, alter).Resources[0].ErrorCode); err != nil {
		t.Fatal("setting retention.ms:", err)
	}
	create("gone", 1)
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.TopicNames = []string{"gone"}
	if err := kerr.ErrorForCode(c.DeleteTopics(ctx, del).Topics[0].ErrorCode); err != nil {
		t.Fatal("deleting gone:", err)
	}
	wait.Until(t, 10*time.Second, "a snapshot file", func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "*"+quorum.SnapshotSuffix))
		return len(files) > 0
	})
	return dir
}

// TestDumpLogMetadata dumps a metadata log that a controller wrote: every
// Raft entry with its decoded records, the snapshot and the quorum state.
func TestDumpLogMetadata(t *testing.T) {
	dir := writeMetadataLog(t)
	logFile := filepath.Join(dir, "00000000000000000000.log")

	// In its directory the metadata log decodes under --print-data-log,
	// elsewhere with --cluster-metadata-decoder, the same lines.
	out := mustRun(t, "", "dump-log", "--files", logFile, "--print-data-log")
	copied := filepath.Join(t.TempDir(), "00000000000000000000.log")
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copied, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if other := mustRun(t, "", "dump-log", "--files", copied, "--cluster-metadata-decoder"); strings.ReplaceAll(other, copied, logFile) != out {
		t.Errorf("--cluster-metadata-decoder outside the metadata directory:\n%s\nwant as in it:\n%s", other, out)
	}
	for _, want := range []string{
		// Raft's first entry: the configuration change that adds voter 1.
		`(?m)^\| offset: 0 CreateTime: \d+ index: 1 term: 1 entryType: EntryConfChange dataSize: \d+\n\|   confChange: transition:ConfChangeTransitionAuto changes:\{type:ConfChangeAddNode node_id:1\}$`,
		// A new leader's empty entry.
		`(?m)^\| offset: \d+ CreateTime: \d+ index: \d+ term: \d+ entryType: EntryNormal dataSize: 0$`,
		`(?m)^\|   payload: \{"type":"REGISTER_BROKER_RECORD","data":\{"NodeID":1,"IncarnationID":"AQAAAAAAAAAAAAAAAAAAAA","BrokerEpoch":\d+,"Listeners":\[\{"Name":"PLAINTEXT","Host":"127.0.0.1","Port":9092,"SecurityProtocol":0\}\],"Rack":"r1","Fenced":true\}\}$`,
		`(?m)^\|   payload: \{"type":"UNFENCE_BROKER_RECORD","data":\{"NodeID":1,"BrokerEpoch":\d+\}\}$`,
		`(?m)^\|   payload: \{"type":"TOPIC_RECORD","data":\{"TopicID":"[A-Za-z0-9_-]{22}","Name":"orders"\}\}\n\|   payload: \{"type":"PARTITION_RECORD","data":\{"TopicID":"[A-Za-z0-9_-]{22}","Partition":0,"Replicas":\[1\],"ISR":\[1\],"Leader":1,`,
		`(?m)^\|   payload: \{"type":"CONFIG_RECORD","data":\{"ResourceType":2,"ResourceName":"orders","Name":"retention.ms","Value":"60000","Deleted":false\}\}$`,
		`(?m)^\|   payload: \{"type":"REMOVE_TOPIC_RECORD","data":\{"TopicID":"[A-Za-z0-9_-]{22}"\}\}$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("dump of the metadata log lacks a match of %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "cannot") || strings.Contains(out, "isvalid: false") {
		t.Errorf("dump of the metadata log reports problems:\n%s", out)
	}
	if plain := mustRun(t, "", "dump-log", "--files", logFile); strings.Contains(plain, "| ") || !strings.Contains(plain, "baseOffset: 0 lastOffset: 0 count: 1") {
		t.Errorf("dump without --print-data-log: want batch lines only:\n%s", plain)
	}

	snaps, _ := filepath.Glob(filepath.Join(dir, "*"+quorum.SnapshotSuffix))
	snapOut := mustRun(t, "", "dump-log", "--files", snaps[0]+","+filepath.Join(dir, quorum.StateFile), "--deep-iteration")
	for _, want := range []string{
		`(?m)^Snapshot end offset: (\d+), epoch: (\d+)\nbaseOffset: 0 lastOffset: 1 count: 2 .* isvalid: true$`,
		`(?m)^\| snapshot index: \d+ term: \d+ voters: \[1\] learners: \[\] dataSize: \d+$`,
		`(?m)^\|   payload: \{"type":"REGISTER_BROKER_RECORD",`,
		`(?m)^Dumping .*quorum-state\n\{"data_version":0,"leaderEpoch":\d+,"votedId":1,"commitIndex":\d+\}$`,
	} {
		if !regexp.MustCompile(want).MatchString(snapOut) {
			t.Errorf("dump of the snapshot and quorum-state lacks a match of %s:\n%s", want, snapOut)
		}
	}

	// A damaged snapshot is reported, with exit status 1.
	b, err = os.ReadFile(snaps[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0xff
	bad := filepath.Join(t.TempDir(), filepath.Base(snaps[0]))
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustFail(t, "", "problems found in "+bad, "dump-log", "--files", bad, "--print-data-log")
	if !strings.Contains(r.stdout, "isvalid: false") || !strings.Contains(r.stdout, "| cannot read the snapshot:") {
		t.Errorf("dump of a damaged snapshot:\n%s", r.stdout)
	}
}

// TestPrintMetadataRecordsReassignment: a reassignment's replicas are
// printed with the partition records (null in a change that leaves them).
func TestPrintMetadataRecordsReassignment(t *testing.T) {
	batch, err := metadata.AppendBatch(nil, 1, []metadata.Record{
		&metadata.PartitionChangeRecord{Partition: 0, Replicas: []int32{4, 1, 2}, Leader: metadata.LeaderUnchanged, PartitionEpoch: 1,
			AddingReplicas: []int32{4}, RemovingReplicas: []int32{2}},
		&metadata.PartitionChangeRecord{Partition: 0, ISR: []int32{1}, Leader: metadata.LeaderUnchanged, PartitionEpoch: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if !(&dumper{w: &out}).printMetadataRecords(batch) {
		t.Fatalf("not printed: %s", out.String())
	}
	for _, want := range []string{`"Replicas":[4,1,2],`, `"AddingReplicas":[4],"RemovingReplicas":[2]}`, `"ISR":[1],`, `"AddingReplicas":null,"RemovingReplicas":null}`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dump-log printed\n%s\nwithout %s", out.String(), want)
		}
	}
}

// TestPrintMetadataRecordsProducerIDs: a producer id block's record prints under Kafka's
// name with its fields.
func TestPrintMetadataRecordsProducerIDs(t *testing.T) {
	batch, err := metadata.AppendBatch(nil, 1, []metadata.Record{&metadata.ProducerIDsRecord{BrokerID: 2, BrokerEpoch: 7, NextProducerID: 3<<32 + 1000}})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if !(&dumper{w: &out}).printMetadataRecords(batch) {
		t.Fatalf("not printed: %s", out.String())
	}
	want := `payload: {"type":"PRODUCER_IDS_RECORD","data":{"BrokerID":2,"BrokerEpoch":7,"NextProducerID":12884902888}}`
	if !strings.Contains(out.String(), want) {
		t.Errorf("dump-log printed\n%s\nwithout %s", out.String(), want)
	}
}

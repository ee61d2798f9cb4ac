package broker_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/brokertest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// topicConfig returns a topic's described config value and source.
func topicConfig(t *testing.T, adm *kadm.Client, topic, key string) (string, kmsg.ConfigSource) {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(ctx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v %v", topic, err, rc.Err)
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c.MaybeValue(), c.Source
		}
	}
	t.Fatalf("describe %s: no %s", topic, key)
	return "", 0
}

// topicNames lists the broker's topics, internal ones excluded, with an
// uncached Metadata request (kadm answers from kgo's metadata cache for at
// least 10 ms).
func topicNames(t *testing.T, b *brokertest.Broker) []string {
	t.Helper()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx(t), b.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rt := range resp.Topics {
		if !rt.IsInternal {
			names = append(names, *rt.Topic)
		}
	}
	sort.Strings(names)
	return names
}

func TestCreateListDescribeDeleteTopics(t *testing.T) {
	b := brokertest.Start(t)
	adm := b.Admin(t)
	created, err := adm.CreateTopics(ctx(t), 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("60000")}, "orders", "payments")
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range created {
		if r.Err != nil {
			t.Fatalf("create %s: %v %s", name, r.Err, r.ErrMessage)
		}
		if r.NumPartitions != 3 || r.ReplicationFactor != 1 || r.ID == (kadm.TopicID{}) {
			t.Errorf("create %s: %+v", name, r)
		}
		if c := r.Configs["retention.ms"]; c.MaybeValue() != "60000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("create %s: retention.ms %+v", name, c)
		}
	}
	topics, err := adm.ListTopics(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := topics.Names(); len(got) != 2 || got[0] != "orders" || got[1] != "payments" {
		t.Fatalf("topics %v", got)
	}
	for _, td := range topics {
		if td.Err != nil || len(td.Partitions) != 3 || td.ID != created[td.Topic].ID {
			t.Errorf("%s: %+v", td.Topic, td)
		}
		for _, p := range td.Partitions {
			if p.Leader != 1 || len(p.Replicas) != 1 || len(p.ISR) != 1 || p.Err != nil {
				t.Errorf("%s/%d: %+v", td.Topic, p.Partition, p)
			}
		}
	}
	if v, src := topicConfig(t, adm, "orders", "retention.ms"); v != "60000" || src != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("retention.ms %s %v", v, src)
	}
	if v, src := topicConfig(t, adm, "orders", "segment.bytes"); v != "1073741824" || src != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("segment.bytes %s %v", v, src)
	}

	if _, err := adm.CreateTopic(ctx(t), 1, 1, nil, "orders"); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Errorf("create existing: %v", err)
	}
	deleted, err := adm.DeleteTopics(ctx(t), "orders", "nope")
	if err != nil {
		t.Fatal(err)
	}
	if deleted["orders"].Err != nil || !errors.Is(deleted["nope"].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("delete: %+v", deleted)
	}
	if got := topicNames(t, b); len(got) != 1 || got[0] != "payments" {
		t.Errorf("after delete: %v", got)
	}
	// The name is free again, with a new id.
	again, err := adm.CreateTopic(ctx(t), 1, -1, nil, "orders")
	if err != nil || again.ID == created["orders"].ID {
		t.Errorf("recreate: %v %+v", err, again)
	}
}

func TestCreateTopicsRejects(t *testing.T) {
	b := brokertest.Start(t)
	adm := b.Admin(t)
	tests := []struct {
		name       string
		partitions int32
		replicas   int16
		configs    map[string]*string
		want       error
	}{
		{"", 1, 1, nil, kerr.InvalidTopicException},
		{".", 1, 1, nil, kerr.InvalidTopicException},
		{"..", 1, 1, nil, kerr.InvalidTopicException},
		{"a/b", 1, 1, nil, kerr.InvalidTopicException},
		{"spaces are bad", 1, 1, nil, kerr.InvalidTopicException},
		{strings.Repeat("x", 250), 1, 1, nil, kerr.InvalidTopicException},
		{"zero-partitions", 0, 1, nil, kerr.InvalidPartitions},
		{"three-replicas", 1, 3, nil, kerr.InvalidReplicationFactor},
		{"unknown-config", 1, 1, map[string]*string{"no.such.config": kadm.StringPtr("1")}, kerr.InvalidConfig},
		{"bad-config", 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("soon")}, kerr.InvalidConfig},
		{"null-config", 1, 1, map[string]*string{"retention.ms": nil}, kerr.InvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adm.CreateTopic(ctx(t), tt.partitions, tt.replicas, tt.configs, tt.name)
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	if got := topicNames(t, b); len(got) != 0 {
		t.Errorf("topics after rejected creates: %v", got)
	}
	// Names that differ only by '.' against '_' collide (in metric names).
	if _, err := adm.CreateTopic(ctx(t), 1, 1, nil, "a.b"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx(t), 1, 1, nil, "a_b"); !errors.Is(err, kerr.InvalidTopicException) {
		t.Errorf("colliding name: %v", err)
	}
}

// TestDeprecatedTopicConfigs: the topic configs Kafka 3.x deprecated are
// accepted (and ignored) by CreateTopics, AlterConfigs and
// IncrementalAlterConfigs when their values are valid, refused with
// INVALID_CONFIG when not, and never stored or described.
func TestDeprecatedTopicConfigs(t *testing.T) {
	b := brokertest.Start(t)
	adm := b.Admin(t)
	deprecated := map[string]*string{
		"message.format.version":              kadm.StringPtr("2.8"),
		"message.downconversion.enable":       kadm.StringPtr("TRUE"),
		"message.timestamp.difference.max.ms": kadm.StringPtr("60000"),
		"retention.ms":                        kadm.StringPtr("1000"),
	}
	if _, err := adm.CreateTopic(ctx(t), 1, 1, deprecated, "old"); err != nil {
		t.Fatalf("create with deprecated configs: %v", err)
	}
	described := func() map[string]bool {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx(t), "old")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On("old", nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("describe: %v %v", err, rc.Err)
		}
		keys := map[string]bool{}
		for _, c := range rc.Configs {
			keys[c.Key] = true
		}
		return keys
	}
	if v, src := topicConfig(t, adm, "old", "retention.ms"); v != "1000" || src != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("retention.ms beside deprecated configs: %s %v", v, src)
	}
	for key := range deprecated {
		if key != "retention.ms" && described()[key] {
			t.Errorf("deprecated %s is described", key)
		}
	}
	alter := func(ops ...kadm.AlterConfig) error {
		t.Helper()
		rs, err := adm.AlterTopicConfigs(ctx(t), ops, "old")
		if err != nil {
			t.Fatal(err)
		}
		return rs[0].Err
	}
	if err := alter(kadm.AlterConfig{Op: kadm.SetConfig, Name: "message.format.version", Value: kadm.StringPtr("3.0-IV1")}); err != nil {
		t.Errorf("incremental set: %v", err)
	}
	if err := alter(kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "message.downconversion.enable"}); err != nil {
		t.Errorf("incremental delete: %v", err)
	}
	rs, err := adm.AlterTopicConfigsState(ctx(t), []kadm.AlterConfig{{Name: "message.timestamp.difference.max.ms", Value: kadm.StringPtr("5")}}, "old")
	if err != nil || rs[0].Err != nil {
		t.Errorf("alter configs: %v %+v", err, rs)
	}
	for _, bad := range []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "message.format.version", Value: kadm.StringPtr("latest")},
		{Op: kadm.SetConfig, Name: "message.downconversion.enable", Value: kadm.StringPtr("yes")},
		{Op: kadm.SetConfig, Name: "message.timestamp.difference.max.ms", Value: kadm.StringPtr("-1")},
		{Op: kadm.AppendConfig, Name: "message.format.version", Value: kadm.StringPtr("2.8")},
	} {
		if err := alter(bad); !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("%+v: %v, want INVALID_CONFIG", bad, err)
		}
	}
	if _, err := adm.CreateTopic(ctx(t), 1, 1, map[string]*string{"message.format.version": kadm.StringPtr("x")}, "bad-version"); !errors.Is(err, kerr.InvalidConfig) {
		t.Errorf("create with a bad message.format.version: %v", err)
	}
}

func TestCreateTopicsValidateOnly(t *testing.T) {
	b := brokertest.Start(t)
	adm := b.Admin(t)
	r, err := adm.ValidateCreateTopics(ctx(t), 4, 1, nil, "dry")
	if err != nil || r["dry"].Err != nil || r["dry"].NumPartitions != 4 {
		t.Fatalf("validate: %v %+v", err, r)
	}
	if got := topicNames(t, b); len(got) != 0 {
		t.Errorf("validate-only created %v", got)
	}
}

func TestConfigsRoundTrip(t *testing.T) {
	b := brokertest.Start(t, "log.segment.bytes=16777216")
	adm := b.Admin(t)
	if _, err := adm.CreateTopic(ctx(t), 2, 1, nil, "cfg"); err != nil {
		t.Fatal(err)
	}
	// A broker-level default shows as STATIC_BROKER_CONFIG.
	if v, src := topicConfig(t, adm, "cfg", "segment.bytes"); v != "16777216" || src != kmsg.ConfigSourceStaticBrokerConfig {
		t.Errorf("segment.bytes %s %v", v, src)
	}
	alter := func(ops ...kadm.AlterConfig) error {
		t.Helper()
		rs, err := adm.AlterTopicConfigs(ctx(t), ops, "cfg")
		if err != nil {
			t.Fatal(err)
		}
		return rs[0].Err
	}
	if err := alter(
		kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("1000")},
		kadm.AlterConfig{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kadm.StringPtr("4096")},
		kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
	); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"retention.ms": "1000", "max.message.bytes": "4096", "cleanup.policy": "delete,compact"} {
		if v, src := topicConfig(t, adm, "cfg", key); v != want || src != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("%s = %s (%v), want %s", key, v, src, want)
		}
	}
	if err := alter(
		kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"},
		kadm.AlterConfig{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
	); err != nil {
		t.Fatal(err)
	}
	if v, src := topicConfig(t, adm, "cfg", "retention.ms"); v != "604800000" || src != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("retention.ms after delete: %s %v", v, src)
	}
	if v, _ := topicConfig(t, adm, "cfg", "cleanup.policy"); v != "delete" {
		t.Errorf("cleanup.policy after subtract: %s", v)
	}
	// Rejected changes change nothing.
	for _, op := range []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("-5")},
		{Op: kadm.SetConfig, Name: "no.such.key", Value: kadm.StringPtr("1")},
		{Op: kadm.AppendConfig, Name: "retention.ms", Value: kadm.StringPtr("1")},
		{Op: kadm.SetConfig, Name: "message.timestamp.type", Value: kadm.StringPtr("Whenever")},
	} {
		if err := alter(op); !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("%+v: %v", op, err)
		}
	}
	if v, _ := topicConfig(t, adm, "cfg", "max.message.bytes"); v != "4096" {
		t.Errorf("max.message.bytes after rejected changes: %s", v)
	}
	// Non-incremental AlterConfigs replaces the whole set.
	rs, err := adm.AlterTopicConfigsState(ctx(t), []kadm.AlterConfig{{Name: "segment.ms", Value: kadm.StringPtr("3600000")}}, "cfg")
	if err != nil || rs[0].Err != nil {
		t.Fatalf("alter state: %v %+v", err, rs)
	}
	if v, src := topicConfig(t, adm, "cfg", "max.message.bytes"); v != "1048588" || src != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("max.message.bytes after AlterConfigs: %s %v", v, src)
	}
	if v, _ := topicConfig(t, adm, "cfg", "segment.ms"); v != "3600000" {
		t.Errorf("segment.ms: %s", v)
	}
	// Unknown topic.
	rs, err = adm.AlterTopicConfigs(ctx(t), []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("1")}}, "missing")
	if err != nil || !errors.Is(rs[0].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("alter missing topic: %v %+v", err, rs)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx(t), "missing")
	if err == nil && len(rcs) == 1 {
		err = rcs[0].Err
	}
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("describe missing topic: %v", err)
	}
}

func TestBrokerConfigsAndCluster(t *testing.T) {
	b := brokertest.Start(t, "num.partitions=4")
	adm := b.Admin(t)
	rcs, err := adm.DescribeBrokerConfigs(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key == "num.partitions" {
				found = c.MaybeValue() == "4" && c.Source == kmsg.ConfigSourceStaticBrokerConfig
			}
		}
	}
	if !found {
		t.Errorf("num.partitions not described as 4: %+v", rcs)
	}
	m, err := adm.BrokerMetadata(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Cluster != b.ClusterID() || len(m.Brokers) != 1 || m.Brokers[0].NodeID != 1 || m.Controller != 1 {
		t.Errorf("metadata: %+v", m)
	}
	req := kmsg.NewPtrDescribeClusterRequest()
	resp, err := req.RequestWith(ctx(t), b.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 || resp.ClusterID != b.ClusterID() || len(resp.Brokers) != 1 || resp.Brokers[0].Host != "127.0.0.1" {
		t.Errorf("describe cluster: %+v", resp)
	}
}

func TestCreatePartitions(t *testing.T) {
	b := brokertest.Start(t, "log.dirs="+t.TempDir()+","+t.TempDir())
	adm := b.Admin(t)
	if _, err := adm.CreateTopic(ctx(t), 2, 1, nil, "grow"); err != nil {
		t.Fatal(err)
	}
	rs, err := adm.UpdatePartitions(ctx(t), 5, "grow")
	if err != nil || rs["grow"].Err != nil {
		t.Fatalf("grow: %v %+v", err, rs)
	}
	rs, err = adm.UpdatePartitions(ctx(t), 3, "grow")
	if err != nil || !errors.Is(rs["grow"].Err, kerr.InvalidPartitions) {
		t.Errorf("shrink: %v %+v", err, rs)
	}
	rs, err = adm.UpdatePartitions(ctx(t), 3, "missing")
	if err != nil || !errors.Is(rs["missing"].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("missing: %v %+v", err, rs)
	}
	topics, err := adm.ListTopics(ctx(t), "grow")
	if err != nil || len(topics["grow"].Partitions) != 5 {
		t.Fatalf("partitions: %v %+v", err, topics)
	}
	b.Restart(t)
}

func TestMetadataAutoCreate(t *testing.T) {
	t.Run("enabled", func(t *testing.T) {
		b := brokertest.Start(t, "num.partitions=3")
		cl := b.Client(t, kgo.AllowAutoTopicCreation())
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("auto")
		req.Topics = append(req.Topics, rt)
		req.AllowAutoTopicCreation = true
		resp, err := req.RequestWith(ctx(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 3 || resp.Topics[0].TopicID == ([16]byte{}) {
			t.Fatalf("auto-create: %+v", resp.Topics)
		}
		// Invalid names are not created.
		rt.Topic = kmsg.StringPtr("bad/name")
		req.Topics = []kmsg.MetadataRequestTopic{rt}
		resp, err = req.RequestWith(ctx(t), cl)
		if err != nil || resp.Topics[0].ErrorCode != kerr.InvalidTopicException.Code {
			t.Errorf("invalid name: %v %+v", err, resp.Topics)
		}
		// Without the client's permission, nothing is created.
		rt.Topic = kmsg.StringPtr("not-asked")
		req.Topics = []kmsg.MetadataRequestTopic{rt}
		req.AllowAutoTopicCreation = false
		resp, err = req.RequestWith(ctx(t), cl)
		if err != nil || resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("not allowed: %v %+v", err, resp.Topics)
		}
		// By id.
		id := b.Admin(t)
		topics, err := id.ListTopics(ctx(t))
		if err != nil || len(topics) != 1 {
			t.Fatalf("list: %v %v", err, topics.Names())
		}
		byID := kmsg.NewMetadataRequestTopic()
		byID.TopicID = topics["auto"].ID
		unknown := kmsg.NewMetadataRequestTopic()
		unknown.TopicID = [16]byte{1}
		req.Topics = []kmsg.MetadataRequestTopic{byID, unknown}
		resp, err = req.RequestWith(ctx(t), cl)
		if err != nil || len(resp.Topics) != 2 || *resp.Topics[0].Topic != "auto" || resp.Topics[1].ErrorCode != kerr.UnknownTopicID.Code {
			t.Errorf("by id: %v %+v", err, resp.Topics)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		b := brokertest.Start(t, "auto.create.topics.enable=false")
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("auto")
		req.Topics = append(req.Topics, rt)
		req.AllowAutoTopicCreation = true
		resp, err := req.RequestWith(ctx(t), b.Client(t))
		if err != nil || resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("%v %+v", err, resp.Topics)
		}
	})
}

func TestRestartKeepsTopicsAndConfigs(t *testing.T) {
	b := brokertest.Start(t, "log.dirs="+t.TempDir()+","+t.TempDir())
	adm := b.Admin(t)
	created, err := adm.CreateTopics(ctx(t), 3, 1, map[string]*string{"retention.bytes": kadm.StringPtr("1048576")}, "keep", "also")
	if err != nil || created.Error() != nil {
		t.Fatal(err, created.Error())
	}
	rs, err := adm.AlterTopicConfigs(ctx(t), []kadm.AlterConfig{{Name: "message.timestamp.type", Value: kadm.StringPtr("LogAppendTime")}}, "keep")
	if err != nil || rs[0].Err != nil {
		t.Fatal(err, rs)
	}
	if _, err := adm.DeleteTopic(ctx(t), "also"); err != nil {
		t.Fatal(err)
	}
	clusterID := b.ClusterID()

	b = b.Restart(t)
	adm = b.Admin(t)
	if b.ClusterID() != clusterID {
		t.Errorf("cluster id %s, was %s", b.ClusterID(), clusterID)
	}
	topics, err := adm.ListTopics(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := topics.Names(); len(got) != 1 || got[0] != "keep" {
		t.Fatalf("topics after restart: %v", got)
	}
	if td := topics["keep"]; td.ID != created["keep"].ID || len(td.Partitions) != 3 {
		t.Errorf("keep after restart: %+v", td)
	}
	if v, _ := topicConfig(t, adm, "keep", "retention.bytes"); v != "1048576" {
		t.Errorf("retention.bytes after restart: %s", v)
	}
	if v, _ := topicConfig(t, adm, "keep", "message.timestamp.type"); v != "LogAppendTime" {
		t.Errorf("message.timestamp.type after restart: %s", v)
	}
}

func TestDeleteTopicsByID(t *testing.T) {
	b := brokertest.Start(t)
	created, err := b.Admin(t).CreateTopic(ctx(t), 1, 1, nil, "byid")
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrDeleteTopicsRequest()
	byID := kmsg.NewDeleteTopicsRequestTopic()
	byID.TopicID = created.ID
	unknown := kmsg.NewDeleteTopicsRequestTopic()
	unknown.TopicID = [16]byte{9}
	req.Topics = []kmsg.DeleteTopicsRequestTopic{byID, unknown}
	resp, err := req.RequestWith(ctx(t), b.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 2 || resp.Topics[0].ErrorCode != 0 || resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != "byid" ||
		resp.Topics[1].ErrorCode != kerr.UnknownTopicID.Code {
		t.Errorf("%+v", resp.Topics)
	}
	if got := topicNames(t, b); len(got) != 0 {
		t.Errorf("topics left: %v", got)
	}
}

func TestCreateTopicsReplicaAssignment(t *testing.T) {
	b := brokertest.Start(t)
	cl := b.Client(t)
	create := func(name string, assignment [][]int32, partitions int32) int16 {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, -1
		for i, replicas := range assignment {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(i), replicas
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].ErrorCode
	}
	if code := create("assigned", [][]int32{{1}, {1}, {1}}, -1); code != 0 {
		t.Errorf("valid assignment: %v", kerr.ErrorForCode(code))
	}
	if code := create("elsewhere", [][]int32{{2}}, -1); code != kerr.InvalidReplicaAssignment.Code {
		t.Errorf("replica on another broker: %v", kerr.ErrorForCode(code))
	}
	if code := create("both", [][]int32{{1}}, 3); code != kerr.InvalidRequest.Code {
		t.Errorf("assignment and count: %v", kerr.ErrorForCode(code))
	}
	topics, err := b.Admin(t).ListTopics(ctx(t), "assigned")
	if err != nil || len(topics["assigned"].Partitions) != 3 {
		t.Errorf("assigned: %v %+v", err, topics)
	}
}

func TestInternalTopicProtected(t *testing.T) {
	b := brokertest.Start(t)
	adm := b.Admin(t)
	if _, err := adm.DeleteTopic(ctx(t), "__consumer_offsets"); !errors.Is(err, kerr.InvalidTopicException) {
		t.Errorf("delete __consumer_offsets: %v", err)
	}
	rs, err := adm.UpdatePartitions(ctx(t), 100, "__consumer_offsets")
	if err != nil || !errors.Is(rs["__consumer_offsets"].Err, kerr.InvalidPartitions) {
		t.Errorf("grow __consumer_offsets: %v %+v", err, rs)
	}
	topics, err := adm.ListTopics(ctx(t), "__consumer_offsets")
	if err != nil || len(topics["__consumer_offsets"].Partitions) == 0 || !topics["__consumer_offsets"].IsInternal {
		t.Errorf("__consumer_offsets: %v %+v", err, topics)
	}
}

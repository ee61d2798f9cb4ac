package broker

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"runnel/broker/controller"
	"runnel/io/flush"
	"runnel/segment"
)

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
		check func(t *testing.T, c Config)
	}{
		{"defaults", nil, func(t *testing.T, c Config) {
			if c.ListenAddr != "localhost:9092" || c.SocketRequestMaxBytes != 100<<20 || c.NumPartitions != 1 ||
				!c.AutoCreateTopics || c.AdminListener != "127.0.0.1:9644" || c.FlushPolicy != flush.Durable ||
				c.RetentionCheckInterval != 5*time.Minute || !reflect.DeepEqual(c.LogDirs, []string{"./data"}) {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{"kafka names", map[string]string{
			"node.id": "7", "listeners": "PLAINTEXT://0.0.0.0:19092", "advertised.listeners": "PLAINTEXT://kafka.example:9093",
			"log.dirs": "/a, /b", "num.partitions": "6", "auto.create.topics.enable": "false",
			"socket.request.max.bytes": "1048576", "log.segment.bytes": "1048576", "message.max.bytes": "2000000",
			"log.flush.interval.messages": "1000", "log.retention.check.interval.ms": "1000",
		}, func(t *testing.T, c Config) {
			if c.NodeID != 7 || c.ListenAddr != "0.0.0.0:19092" || c.AdvertisedHost != "kafka.example" || c.AdvertisedPort != 9093 ||
				!reflect.DeepEqual(c.LogDirs, []string{"/a", "/b"}) || c.NumPartitions != 6 || c.AutoCreateTopics ||
				c.SocketRequestMaxBytes != 1<<20 || c.RetentionCheckInterval != time.Second {
				t.Errorf("got %+v", c)
			}
			want := map[string]string{"segment.bytes": "1048576", "max.message.bytes": "2000000", "flush.messages": "1000"}
			if !reflect.DeepEqual(c.TopicDefaults, want) {
				t.Errorf("topic defaults %v, want %v", c.TopicDefaults, want)
			}
		}},
		{"broker.id", map[string]string{"broker.id": "3"}, func(t *testing.T, c Config) {
			if c.NodeID != 3 {
				t.Errorf("node id %d", c.NodeID)
			}
		}},
		{"retention precedence ms over minutes over hours", map[string]string{
			"log.retention.hours": "1", "log.retention.minutes": "2", "log.retention.ms": "3",
		}, func(t *testing.T, c Config) {
			if got := c.TopicDefaults["retention.ms"]; got != "3" {
				t.Errorf("retention.ms %s", got)
			}
		}},
		{"retention hours", map[string]string{"log.retention.hours": "2"}, func(t *testing.T, c Config) {
			if got := c.TopicDefaults["retention.ms"]; got != "7200000" {
				t.Errorf("retention.ms %s", got)
			}
		}},
		{"retention forever", map[string]string{"log.retention.hours": "-1"}, func(t *testing.T, c Config) {
			if got := c.TopicDefaults["retention.ms"]; got != "-1" {
				t.Errorf("retention.ms %s", got)
			}
		}},
		{"runnel keys", map[string]string{
			"runnel.admin.listener": "", "runnel.flush.policy": "interval", "runnel.segment.preallocate.bytes": "4096",
		}, func(t *testing.T, c Config) {
			if c.AdminListener != "" || c.FlushPolicy != flush.Interval || c.PreallocateBytes != 4096 {
				t.Errorf("got %+v", c)
			}
		}},
		{"full recovery scan", map[string]string{"runnel.log.recovery.scan": "full"}, func(t *testing.T, c Config) {
			if c.LogRecoveryScan != segment.ScanFull {
				t.Errorf("recovery scan %v", c.LogRecoveryScan)
			}
		}},
		{"listener without scheme", map[string]string{"listeners": "127.0.0.1:0"}, func(t *testing.T, c Config) {
			if c.ListenAddr != "127.0.0.1:0" || c.AdvertisedPort != 0 {
				t.Errorf("got %+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warnings, err := NewConfig(tt.props)
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) != 0 {
				t.Errorf("warnings: %v", warnings)
			}
			tt.check(t, c)
		})
	}
}

func TestNewConfigRejects(t *testing.T) {
	tests := []struct {
		key, value string
	}{
		{"num.partitions", "zero"},
		{"num.partitions", "0"},
		{"log.segment.bytes", "12"},
		{"log.segment.bytes", "1GB"},
		{"log.retention.hours", "x"},
		{"log.retention.ms", "-2"},
		{"message.max.bytes", "-1"},
		{"auto.create.topics.enable", "yes please"},
		{"listeners", "SSL://:9093"},
		{"listeners", "PLAINTEXT://a:1,PLAINTEXT://b:2"},
		{"listeners", "PLAINTEXT://nohost"},
		{"log.dirs", " , "},
		{"runnel.flush.policy", "sometimes"},
		{"runnel.admin.listener", "9644"},
		{"log.message.timestamp.type", "WallClock"},
		{"log.cleanup.policy", "delete,shred"},
		{"socket.request.max.bytes", "0"},
		{"runnel.log.recovery.scan", "everything"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			_, _, err := NewConfig(map[string]string{tt.key: tt.value})
			if err == nil {
				t.Fatal("accepted")
			}
			// The message names the key and the value.
			if !strings.Contains(err.Error(), tt.key) || !strings.Contains(err.Error(), tt.value) {
				t.Errorf("message %q does not name %s and %q", err, tt.key, tt.value)
			}
		})
	}
}

func TestNewConfigConflictsAndWarnings(t *testing.T) {
	if _, _, err := NewConfig(map[string]string{"broker.id": "1", "node.id": "2"}); err == nil {
		t.Error("broker.id and node.id differing: accepted")
	}
	// runnel.segment.prefault.total.bytes was removed with the pre-fault: like any key the
	// broker does not know, it is ignored with a warning.
	_, warnings, err := NewConfig(map[string]string{"num.network.threads": "3", "zookeeper.connect": "x", "runnel.segment.prefault.total.bytes": "0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 3 || !strings.Contains(warnings[0], "num.network.threads") || !strings.Contains(warnings[1], "runnel.segment.prefault.total.bytes") || !strings.Contains(warnings[2], "zookeeper.connect") {
		t.Errorf("warnings %q", warnings)
	}
}

func TestLoadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.properties")
	data := "# a Kafka server.properties\nnode.id=4\nlog.dirs=/from/file\nnum.partitions = 3\nzookeeper.connect=localhost:2181\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	c, warnings, err := LoadConfig(path, []string{"num.partitions=5", "log.retention.ms=1000"})
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeID != 4 || c.NumPartitions != 5 || c.LogDirs[0] != "/from/file" || c.TopicDefaults["retention.ms"] != "1000" {
		t.Errorf("got %+v", c)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "zookeeper.connect") {
		t.Errorf("warnings %q", warnings)
	}
	if _, _, err := LoadConfig("", []string{"novalue"}); err == nil {
		t.Error("override without '=' accepted")
	}
	if _, _, err := LoadConfig(filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("missing file accepted")
	}
}

func TestResolveTopicSettings(t *testing.T) {
	s, err := resolveTopicSettings(map[string]string{"retention.ms": "1000", "segment.bytes": "2048"},
		map[string]string{"segment.bytes": "4096", "message.timestamp.type": "LogAppendTime", "flush.messages": "10"}, 512)
	if err != nil {
		t.Fatal(err)
	}
	if s.log.RetentionMs != time.Second || s.log.SegmentBytes != 4096 || s.log.PreallocateBytes != 512 ||
		!s.logAppendTime || s.flushMessages != 10 || s.flushInterval != 0 || s.maxMessageBytes != 1048588 {
		t.Errorf("got %+v", s)
	}
	s, err = resolveTopicSettings(nil, map[string]string{"cleanup.policy": "compact"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.log.RetentionMs >= 0 || s.log.RetentionBytes >= 0 {
		t.Errorf("compact-only topic would delete data: %+v", s.log)
	}
	// The broker's own log settings reach every topic's log.
	c, _, err := LoadConfig("", []string{"producer.id.expiration.ms=60000", "runnel.segment.preallocate.bytes=4096"})
	if err != nil {
		t.Fatal(err)
	}
	if s, err = c.topicSettings(map[string]string{"segment.bytes": "8192"}); err != nil {
		t.Fatal(err)
	}
	if s.log.ProducerIDExpiration != time.Minute || s.log.PreallocateBytes != 4096 || s.log.SegmentBytes != 8192 {
		t.Errorf("broker log settings not applied: %+v", s.log)
	}
}

func TestValidateTopicName(t *testing.T) {
	long := strings.Repeat("a", 249)
	for _, name := range []string{"a", "A-b_c.9", long, "__consumer_offsets"} {
		if err := validateTopicName(name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	for _, name := range []string{"", ".", "..", long + "a", "a/b", "a b", "ä", "a\x00"} {
		if err := validateTopicName(name); errCode(err) != 17 { // INVALID_TOPIC_EXCEPTION
			t.Errorf("%q: %v", name, err)
		}
	}
}

func TestEditList(t *testing.T) {
	tests := []struct {
		list, change string
		add          bool
		want         string
	}{
		{"delete", "compact", true, "delete,compact"},
		{"delete", "delete", true, "delete"},
		{"delete,compact", "delete", false, "compact"},
		{"compact", "delete", false, "compact"},
	}
	for _, tt := range tests {
		if got := controller.EditList(tt.list, tt.change, tt.add); got != tt.want {
			t.Errorf("EditList(%q, %q, %v) = %q, want %q", tt.list, tt.change, tt.add, got, tt.want)
		}
	}
}

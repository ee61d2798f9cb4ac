package metadata

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"runnel/segment"
)

var (
	testTopicID = UUID{0x4f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	testIncID   = UUID{0xaa, 0xbb, 0xcc, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff}
)

// sampleRecords is one record of every type, with every optional part
// present or absent at least once.
func sampleRecords() map[string]Record {
	return map[string]Record{
		"register broker": &RegisterBrokerRecord{
			NodeID: 3, IncarnationID: testIncID, BrokerEpoch: 1 << 40,
			Listeners: []Listener{
				{Name: "PLAINTEXT", Host: "10.0.0.3", Port: 9092, SecurityProtocol: ProtocolPlaintext},
				{Name: "CONTROLLER", Host: "broker-3.example", Port: 9093, SecurityProtocol: ProtocolSASLSSL},
			},
			Rack: "rack-b", Fenced: true,
		},
		"register broker no rack":     &RegisterBrokerRecord{NodeID: 0, BrokerEpoch: 7, Listeners: []Listener{{Name: "L", Host: "h", Port: 1}}},
		"register broker no listener": &RegisterBrokerRecord{NodeID: 1, BrokerEpoch: 2, Listeners: []Listener{}},
		"fence broker":                &FenceBrokerRecord{NodeID: 3, BrokerEpoch: 1 << 40},
		"unfence broker":              &UnfenceBrokerRecord{NodeID: 3, BrokerEpoch: -1},
		"topic":                       &TopicRecord{TopicID: testTopicID, Name: "orders"},
		"topic non-ascii name":        &TopicRecord{TopicID: testTopicID, Name: "bestellungen-ü"},
		"partition": &PartitionRecord{TopicID: testTopicID, Partition: 7, Replicas: []int32{3, 1, 2},
			ISR: []int32{1, 3}, Leader: 3, LeaderEpoch: 4, PartitionEpoch: 9},
		"partition no leader empty isr": &PartitionRecord{TopicID: testTopicID, Partition: 0, Replicas: []int32{1},
			ISR: []int32{}, Leader: NoLeader},
		"change all": &PartitionChangeRecord{TopicID: testTopicID, Partition: 2, Replicas: []int32{2, 1},
			ISR: []int32{2}, Leader: 2, LeaderEpoch: 5, PartitionEpoch: 6},
		"change isr only":  &PartitionChangeRecord{TopicID: testTopicID, Partition: 2, ISR: []int32{1}, Leader: LeaderUnchanged, LeaderEpoch: 5, PartitionEpoch: 7},
		"change empty isr": &PartitionChangeRecord{TopicID: testTopicID, Partition: 2, ISR: []int32{}, Leader: NoLeader, LeaderEpoch: 6, PartitionEpoch: 8},
		"change leader":    &PartitionChangeRecord{TopicID: testTopicID, Partition: 0, Leader: 4, LeaderEpoch: 1, PartitionEpoch: 1},
		"partition reassigning": &PartitionRecord{TopicID: testTopicID, Partition: 1, Replicas: []int32{4, 1, 2},
			ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 3, AddingReplicas: []int32{4}, RemovingReplicas: []int32{2}},
		"partition adding only": &PartitionRecord{TopicID: testTopicID, Partition: 1, Replicas: []int32{1, 4},
			ISR: []int32{1}, Leader: 1, AddingReplicas: []int32{4}, RemovingReplicas: []int32{}},
		"change reassignment": &PartitionChangeRecord{TopicID: testTopicID, Partition: 1, Replicas: []int32{4, 1, 2}, Leader: LeaderUnchanged,
			LeaderEpoch: 2, PartitionEpoch: 4, AddingReplicas: []int32{4}, RemovingReplicas: []int32{2}},
		"change reassignment done": &PartitionChangeRecord{TopicID: testTopicID, Partition: 1, Replicas: []int32{4, 1}, ISR: []int32{1, 4},
			Leader: LeaderUnchanged, LeaderEpoch: 3, PartitionEpoch: 5, AddingReplicas: []int32{}, RemovingReplicas: []int32{}},
		"change removing only": &PartitionChangeRecord{TopicID: testTopicID, Partition: 1, Leader: LeaderUnchanged,
			LeaderEpoch: 3, PartitionEpoch: 6, RemovingReplicas: []int32{4}},
		"config set":         &ConfigRecord{ResourceType: ResourceTopic, ResourceName: "orders", Name: "retention.ms", Value: "86400000"},
		"config empty value": &ConfigRecord{ResourceType: ResourceBroker, ResourceName: "", Name: "k", Value: ""},
		"config delete":      &ConfigRecord{ResourceType: ResourceBroker, ResourceName: "3", Name: "log.retention.ms", Deleted: true},
		"remove topic":       &RemoveTopicRecord{TopicID: testTopicID},
		"producer ids":       &ProducerIDsRecord{BrokerID: 2, BrokerEpoch: 1 << 33, NextProducerID: 5<<32 + 1000},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for name, r := range sampleRecords() {
		t.Run(name, func(t *testing.T) {
			b, err := AppendRecord([]byte("prefix"), r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatalf("AppendRecord did not append: %x", b)
			}
			b = b[len("prefix"):]
			if RecordType(b[0]) != r.Type() || b[1] != r.version() {
				t.Fatalf("type and version bytes %x, want %d %d", b[:2], r.Type(), r.version())
			}
			got, err := DecodeRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Fatalf("decoded %#v\nwant %#v", got, r)
			}
			again, _ := AppendRecord(nil, got)
			if !bytes.Equal(again, b) {
				t.Fatalf("re-encoded %x, first %x", again, b)
			}
		})
	}
}

// TestTopicRecordBytes pins the example of doc.go, so that the format
// cannot change without the documentation.
func TestTopicRecordBytes(t *testing.T) {
	b, err := AppendRecord(nil, &TopicRecord{TopicID: testTopicID, Name: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{2, 0}, testTopicID[:]...), 0, 6, 'o', 'r', 'd', 'e', 'r', 's')
	if !bytes.Equal(b, want) {
		t.Fatalf("%x, want %x", b, want)
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	enc := func(r Record) []byte {
		b, err := AppendRecord(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	topic := enc(&TopicRecord{TopicID: testTopicID, Name: "orders"})
	part := enc(&PartitionRecord{TopicID: testTopicID, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1})
	change := enc(&PartitionChangeRecord{TopicID: testTopicID, Leader: 1})
	fenced := enc(&RegisterBrokerRecord{NodeID: 1, Listeners: []Listener{{Name: "L", Host: "h", Port: 1}}})
	config := enc(&ConfigRecord{ResourceType: ResourceTopic, ResourceName: "t", Name: "k", Value: "v"})
	set := func(b []byte, i int, v byte) []byte {
		c := bytes.Clone(b)
		c[i] = v
		return c
	}
	// Version 1 records whose reassignment fields say nothing: the same
	// records are version 0, so these are not the encoder's.
	partV1 := append(set(part, 1, 1), 0, 0, 0, 0)
	changeV1 := append(set(change, 1, 1), 0)
	changeV1Bits := append(set(change, 1, 1), 0x04)
	for _, tc := range []struct {
		name string
		b    []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrInvalidRecord, "shorter than type and version"},
		{"type only", []byte{2}, ErrInvalidRecord, "shorter than type and version"},
		{"unknown type", []byte{1, 0}, ErrUnknownRecord, "type 1"},
		{"unknown type 200", []byte{200, 0, 1, 2}, ErrUnknownRecord, "type 200"},
		{"newer version", set(topic, 1, 1), ErrUnknownRecord, "Topic version 1"},
		{"short topic id", topic[:10], ErrInvalidRecord, "topic id at byte 2"},
		{"short name", topic[:len(topic)-1], ErrInvalidRecord, "name at byte 20: needs 6 bytes, 5 left"},
		{"trailing byte", append(bytes.Clone(topic), 0), ErrInvalidRecord, "1 bytes after the last field"},
		{"name not utf-8", set(topic, len(topic)-1, 0xff), ErrInvalidRecord, "not UTF-8"},
		{"replica count past end", set(part, 2+16+4, 0xff), ErrInvalidRecord, "replicas"},
		{"bad flag bit", set(change, 2+16+4, 0x04), ErrInvalidRecord, "unknown bits 0x4"},
		{"partition v1 without reassignment", partV1, ErrInvalidRecord, "written as version 0"},
		{"change v1 without reassignment", changeV1, ErrInvalidRecord, "reassignment flags"},
		{"change v1 unknown bit", changeV1Bits, ErrInvalidRecord, "bits 0x4"},
		{"partition version 2", set(part, 1, 2), ErrUnknownRecord, "Partition version 2"},
		{"boolean 2", set(fenced, len(fenced)-1, 2), ErrInvalidRecord, "fenced at byte"},
		{"listener count past end", set(fenced, 2+4+16+8+1, 200), ErrInvalidRecord, "200 listeners"},
		{"deleted flag 7", set(config, 2+1+2+1+2+1, 7), ErrInvalidRecord, "deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := DecodeRecord(tc.b)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("DecodeRecord(%x) = %v, %v; want %v containing %q", tc.b, r, err, tc.want, tc.msg)
			}
			if r != nil {
				t.Fatalf("a record with the error: %#v", r)
			}
		})
	}
}

func TestAppendRecordTooLong(t *testing.T) {
	dst := []byte("keep")
	got, err := AppendRecord(dst, &TopicRecord{TopicID: testTopicID, Name: strings.Repeat("x", maxLen+1)})
	if err == nil || !strings.Contains(err.Error(), "string of 65536") {
		t.Fatalf("err %v, want a string too long", err)
	}
	if string(got) != "keep" {
		t.Fatalf("dst changed to %q", got)
	}
	if _, err := AppendRecord(nil, &TopicRecord{Name: "\xff"}); err == nil || !strings.Contains(err.Error(), "not UTF-8") {
		t.Fatalf("err %v, want not UTF-8", err)
	}
	if _, err := AppendRecord(nil, &PartitionRecord{Replicas: make([]int32, maxLen+1)}); err == nil {
		t.Fatal("an array of 65536 encoded")
	}
}

// TestBatchRoundTrip: records travel in a RecordBatch v2 that segment
// validates and decodes as it does any batch (what dump-log and the log
// read), in order.
func TestBatchRoundTrip(t *testing.T) {
	samples := sampleRecords()
	var records []Record
	for _, r := range samples {
		records = append(records, r)
	}
	batch, err := AppendBatch(nil, 1700000000000, records)
	if err != nil {
		t.Fatal(err)
	}
	h, err := segment.ValidateBatch(batch)
	if err != nil {
		t.Fatal(err)
	}
	if int(h.RecordCount) != len(records) || h.Size() != len(batch) {
		t.Fatalf("header %+v for %d records in %d bytes", h, len(records), len(batch))
	}
	got, err := DecodeBatch(batch)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, records) {
		t.Fatalf("decoded %v\nwant %v", got, records)
	}
	if _, err := AppendBatch(nil, 0, nil); err == nil {
		t.Fatal("an empty batch was built")
	}
}

func TestDecodeBatchErrors(t *testing.T) {
	good, err := AppendBatch(nil, 1, []Record{&RemoveTopicRecord{TopicID: testTopicID}})
	if err != nil {
		t.Fatal(err)
	}
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-1] ^= 1
	keyed := segment.BuildBatch(nil, 1, []segment.KeyValue{{Key: []byte("k"), Value: good[len(good)-18:]}})
	null := segment.BuildBatch(nil, 1, []segment.KeyValue{{}})
	unknown := segment.BuildBatch(nil, 1, []segment.KeyValue{{Value: []byte{99, 0}}})
	for _, tc := range []struct {
		name  string
		batch []byte
		want  error
	}{
		{"crc", corrupt, segment.ErrCorruptBatch},
		{"short", good[:len(good)-1], segment.ErrShortBatch},
		{"key", keyed, ErrInvalidRecord},
		{"null value", null, ErrInvalidRecord},
		{"unknown type", unknown, ErrUnknownRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeBatch(tc.batch); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestRecordsGolden pins the encoding of every sample record in
// testdata/records.golden (name, then hex), so that a change to the format
// shows as a change to that file, which doc.go's rules must allow.
func TestRecordsGolden(t *testing.T) {
	samples := sampleRecords()
	var out strings.Builder
	for _, name := range slices.Sorted(maps.Keys(samples)) {
		b, err := AppendRecord(nil, samples[name])
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s\n%x\n", name, b)
	}
	path := filepath.Join("testdata", "records.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if out.String() != string(want) {
		t.Fatalf("encodings differ from %s:\n%s\nwant:\n%s", path, out.String(), want)
	}
}

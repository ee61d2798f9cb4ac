package metadata

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// state is everything an image shows, in plain maps: what snapshot reads
// from an image through its accessors and what the property test's model
// keeps.
type state struct {
	Brokers map[int32]Broker
	Topics  map[UUID]topicState
	Configs map[ConfigResource]map[string]string
}

type topicState struct {
	Name  string
	Parts []Partition
}

func newState() state {
	return state{Brokers: map[int32]Broker{}, Topics: map[UUID]topicState{}, Configs: map[ConfigResource]map[string]string{}}
}

// norm makes nil and empty slices compare equal.
func norm(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

func normPartition(p Partition) Partition {
	p.Replicas, p.ISR = norm(p.Replicas), norm(p.ISR)
	return p
}

// snapshot reads img through its accessors (both ways of finding each
// topic and partition, which must agree) into a deep copy.
func snapshot(t testing.TB, img *Image) state {
	t.Helper()
	s := newState()
	for _, b := range img.Brokers() {
		b.Listeners = slices.Clone(b.Listeners)
		s.Brokers[b.NodeID] = b
	}
	live := img.LiveBrokers()
	for i, b := range live {
		if b.Fenced || (i > 0 && live[i-1].NodeID >= b.NodeID) {
			t.Fatalf("LiveBrokers %v: fenced or out of order", live)
		}
	}
	for topic := range img.Topics() {
		byName, ok := img.Topic(topic.Name())
		if !ok || byName != topic {
			t.Fatalf("topic %q by name: %v %v", topic.Name(), byName, ok)
		}
		if byID, ok := img.TopicByID(topic.ID()); !ok || byID != topic {
			t.Fatalf("topic %q by id: %v %v", topic.Name(), byID, ok)
		}
		ts := topicState{Name: topic.Name(), Parts: []Partition{}}
		for p := range topic.Partitions() {
			if p.Partition != int32(len(ts.Parts)) {
				t.Fatalf("topic %q: partition %d at index %d", topic.Name(), p.Partition, len(ts.Parts))
			}
			if q, ok := img.Partition(topic.Name(), p.Partition); !ok || !reflect.DeepEqual(p, q) {
				t.Fatalf("topic %q partition %d: %v, by name %v", topic.Name(), p.Partition, p, q)
			}
			p.Replicas, p.ISR = slices.Clone(p.Replicas), slices.Clone(p.ISR)
			ts.Parts = append(ts.Parts, normPartition(p))
		}
		if int32(len(ts.Parts)) != topic.NumPartitions() {
			t.Fatalf("topic %q: %d partitions yielded, NumPartitions %d", topic.Name(), len(ts.Parts), topic.NumPartitions())
		}
		if _, ok := topic.Partition(topic.NumPartitions()); ok {
			t.Fatalf("topic %q: a partition past the last", topic.Name())
		}
		s.Topics[topic.ID()] = ts
	}
	if img.names.len() != img.topics.len() || img.NumTopics() != len(s.Topics) {
		t.Fatalf("%d names for %d topics", img.names.len(), img.topics.len())
	}
	for res := range img.configs.all() {
		s.Configs[res] = maps.Collect(img.Configs(res))
		for k, v := range s.Configs[res] {
			if got, ok := img.Config(res, k); !ok || got != v {
				t.Fatalf("Config(%v, %q) = %q, %v; Configs has %q", res, k, got, ok, v)
			}
		}
	}
	return s
}

func listeners(port uint16) []Listener {
	return []Listener{{Name: "PLAINTEXT", Host: "localhost", Port: port}}
}

func mustApply(t testing.TB, img *Image, records ...Record) *Image {
	t.Helper()
	next, err := img.ApplyAll(records)
	if err != nil {
		t.Fatal(err)
	}
	return next
}

// cluster is three brokers (2 fenced) and topic "orders" with three
// partitions and a config.
func cluster(t testing.TB) *Image {
	return mustApply(t, new(Image),
		&RegisterBrokerRecord{NodeID: 1, BrokerEpoch: 10, Listeners: listeners(9092), Rack: "a"},
		&RegisterBrokerRecord{NodeID: 2, BrokerEpoch: 11, Listeners: listeners(9093), Rack: "b", Fenced: true},
		&RegisterBrokerRecord{NodeID: 3, BrokerEpoch: 12, Listeners: listeners(9094), Rack: "a"},
		&TopicRecord{TopicID: testTopicID, Name: "orders"},
		&ConfigRecord{ResourceType: ResourceTopic, ResourceName: "orders", Name: "retention.ms", Value: "1000"},
		&PartitionRecord{TopicID: testTopicID, Partition: 0, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
		&PartitionRecord{TopicID: testTopicID, Partition: 1, Replicas: []int32{2, 3}, ISR: []int32{3}, Leader: 3, LeaderEpoch: 2, PartitionEpoch: 4},
		&PartitionRecord{TopicID: testTopicID, Partition: 2, Replicas: []int32{3}, ISR: []int32{}, Leader: NoLeader},
	)
}

func TestImageAccessors(t *testing.T) {
	img := cluster(t)
	live := img.LiveBrokers()
	if len(live) != 2 || live[0].NodeID != 1 || live[1].NodeID != 3 {
		t.Fatalf("LiveBrokers %+v", live)
	}
	if all := img.Brokers(); len(all) != 3 || !all[1].Fenced {
		t.Fatalf("Brokers %+v", all)
	}
	b, ok := img.Broker(3)
	if !ok || b.Rack != "a" || b.Epoch != 12 {
		t.Fatalf("Broker(3) %+v %v", b, ok)
	}
	if l, ok := b.Listener("PLAINTEXT"); !ok || l.Port != 9094 {
		t.Fatalf("listener %+v %v", l, ok)
	}
	if _, ok := b.Listener("CONTROLLER"); ok {
		t.Fatal("a listener the broker does not have")
	}
	p, ok := img.Partition("orders", 1)
	if !ok || p.Leader != 3 || p.LeaderEpoch != 2 || p.PartitionEpoch != 4 || !slices.Equal(p.Replicas, []int32{2, 3}) {
		t.Fatalf("orders-1 %+v %v", p, ok)
	}
	for _, miss := range []struct {
		topic string
		p     int32
	}{{"orders", 3}, {"orders", -1}, {"nope", 0}} {
		if _, ok := img.Partition(miss.topic, miss.p); ok {
			t.Fatalf("%s-%d found", miss.topic, miss.p)
		}
	}
	if v, ok := img.Config(ConfigResource{ResourceTopic, "orders"}, "retention.ms"); !ok || v != "1000" {
		t.Fatalf("config %q %v", v, ok)
	}
	var h Holder
	if h.Load().NumTopics() != 0 {
		t.Fatal("a holder starts with topics")
	}
	h.Publish(img)
	if h.Load() != img {
		t.Fatal("Load is not what was published")
	}
}

// TestApplyRefuses: every record that would corrupt the image fails with
// its error and leaves the image as it was.
func TestApplyRefuses(t *testing.T) {
	other := UUID{9}
	for _, tc := range []struct {
		name string
		r    Record
		want error
	}{
		{"partition of unknown topic", &PartitionRecord{TopicID: other, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}, ErrUnknownTopic},
		{"partition twice", &PartitionRecord{TopicID: testTopicID, Partition: 1, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}, ErrExists},
		{"partition out of order", &PartitionRecord{TopicID: testTopicID, Partition: 4, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}, ErrInvalidValue},
		{"partition leader not in isr", &PartitionRecord{TopicID: testTopicID, Partition: 3, Replicas: []int32{1, 3}, ISR: []int32{1}, Leader: 3}, ErrInvalidValue},
		{"partition isr not replica", &PartitionRecord{TopicID: testTopicID, Partition: 3, Replicas: []int32{1}, ISR: []int32{1, 2}, Leader: 1}, ErrInvalidValue},
		{"partition duplicate replicas", &PartitionRecord{TopicID: testTopicID, Partition: 3, Replicas: []int32{1, 1}, ISR: []int32{1}, Leader: 1}, ErrInvalidValue},
		{"partition no replicas", &PartitionRecord{TopicID: testTopicID, Partition: 3, Leader: NoLeader}, ErrInvalidValue},
		{"partition negative epoch", &PartitionRecord{TopicID: testTopicID, Partition: 3, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: -1}, ErrInvalidValue},
		{"change stale partition epoch", &PartitionChangeRecord{TopicID: testTopicID, Partition: 1, ISR: []int32{2, 3}, Leader: LeaderUnchanged, LeaderEpoch: 2, PartitionEpoch: 4}, ErrStaleEpoch},
		{"change skips a partition epoch", &PartitionChangeRecord{TopicID: testTopicID, Partition: 1, ISR: []int32{2, 3}, Leader: LeaderUnchanged, LeaderEpoch: 2, PartitionEpoch: 6}, ErrStaleEpoch},
		{"change leader not in isr", &PartitionChangeRecord{TopicID: testTopicID, Partition: 1, Leader: 2, LeaderEpoch: 3, PartitionEpoch: 5}, ErrInvalidValue},
		{"change isr drops leader", &PartitionChangeRecord{TopicID: testTopicID, Partition: 0, ISR: []int32{2}, Leader: LeaderUnchanged, PartitionEpoch: 1}, ErrInvalidValue},
		{"change replicas drop isr member", &PartitionChangeRecord{TopicID: testTopicID, Partition: 0, Replicas: []int32{1}, Leader: LeaderUnchanged, PartitionEpoch: 1}, ErrInvalidValue},
		{"change new leader same epoch", &PartitionChangeRecord{TopicID: testTopicID, Partition: 0, Leader: 2, LeaderEpoch: 0, PartitionEpoch: 1}, ErrStaleEpoch},
		{"change leader epoch falls", &PartitionChangeRecord{TopicID: testTopicID, Partition: 1, Leader: LeaderUnchanged, LeaderEpoch: 1, PartitionEpoch: 5}, ErrStaleEpoch},
		{"change leader -3", &PartitionChangeRecord{TopicID: testTopicID, Partition: 1, Leader: -3, LeaderEpoch: 3, PartitionEpoch: 5}, ErrInvalidValue},
		{"change unknown partition", &PartitionChangeRecord{TopicID: testTopicID, Partition: 3, Leader: LeaderUnchanged, PartitionEpoch: 1}, ErrUnknownPartition},
		{"change unknown topic", &PartitionChangeRecord{TopicID: other, Leader: LeaderUnchanged, PartitionEpoch: 1}, ErrUnknownTopic},
		{"topic name twice", &TopicRecord{TopicID: other, Name: "orders"}, ErrExists},
		{"topic id twice", &TopicRecord{TopicID: testTopicID, Name: "payments"}, ErrExists},
		{"topic zero id", &TopicRecord{Name: "payments"}, ErrInvalidValue},
		{"topic empty name", &TopicRecord{TopicID: other}, ErrInvalidValue},
		{"topic name too long", &TopicRecord{TopicID: other, Name: string(make([]byte, 250))}, ErrInvalidValue},
		{"remove unknown topic", &RemoveTopicRecord{TopicID: other}, ErrUnknownTopic},
		{"config of unknown topic", &ConfigRecord{ResourceType: ResourceTopic, ResourceName: "payments", Name: "k", Value: "v"}, ErrUnknownTopic},
		{"config of broker x", &ConfigRecord{ResourceType: ResourceBroker, ResourceName: "x", Name: "k", Value: "v"}, ErrInvalidValue},
		{"config of broker 01", &ConfigRecord{ResourceType: ResourceBroker, ResourceName: "01", Name: "k", Value: "v"}, ErrInvalidValue},
		{"config resource type 3", &ConfigRecord{ResourceType: 3, Name: "k", Value: "v"}, ErrInvalidValue},
		{"config empty key", &ConfigRecord{ResourceType: ResourceBroker, Value: "v"}, ErrInvalidValue},
		{"fence unknown broker", &FenceBrokerRecord{NodeID: 7, BrokerEpoch: 1}, ErrUnknownBroker},
		{"fence stale epoch", &FenceBrokerRecord{NodeID: 1, BrokerEpoch: 9}, ErrStaleEpoch},
		{"fence fenced", &FenceBrokerRecord{NodeID: 2, BrokerEpoch: 11}, ErrInvalidValue},
		{"unfence unfenced", &UnfenceBrokerRecord{NodeID: 1, BrokerEpoch: 10}, ErrInvalidValue},
		{"register with old epoch", &RegisterBrokerRecord{NodeID: 1, BrokerEpoch: 10, Listeners: listeners(1)}, ErrStaleEpoch},
		{"register no listener", &RegisterBrokerRecord{NodeID: 4, BrokerEpoch: 1}, ErrInvalidValue},
		{"register no host", &RegisterBrokerRecord{NodeID: 4, BrokerEpoch: 1, Listeners: []Listener{{Name: "L", Port: 1}}}, ErrInvalidValue},
		{"register listener twice", &RegisterBrokerRecord{NodeID: 4, BrokerEpoch: 1, Listeners: append(listeners(1), listeners(2)...)}, ErrInvalidValue},
		{"register security protocol 4", &RegisterBrokerRecord{NodeID: 4, BrokerEpoch: 1, Listeners: []Listener{{Name: "L", Host: "h", Port: 1, SecurityProtocol: 4}}}, ErrInvalidValue},
		{"topic name not utf-8", &TopicRecord{TopicID: other, Name: "a\xff"}, ErrInvalidValue},
		{"config value too long", &ConfigRecord{ResourceType: ResourceBroker, Name: "k", Value: strings.Repeat("v", maxLen+1)}, ErrInvalidValue},
		{"config key not utf-8", &ConfigRecord{ResourceType: ResourceBroker, Name: "k\xfe", Value: "v"}, ErrInvalidValue},
		{"rack not utf-8", &RegisterBrokerRecord{NodeID: 4, BrokerEpoch: 1, Listeners: listeners(1), Rack: "\xff"}, ErrInvalidValue},
		{"register node -1", &RegisterBrokerRecord{NodeID: -1, BrokerEpoch: 1, Listeners: listeners(1)}, ErrInvalidValue},
		{"partition adding not replica", &PartitionRecord{TopicID: testTopicID, Partition: 3, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, AddingReplicas: []int32{2}}, ErrInvalidValue},
		{"partition adding twice", &PartitionRecord{TopicID: testTopicID, Partition: 3, Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, AddingReplicas: []int32{2, 2}}, ErrInvalidValue},
		{"partition adding and removing", &PartitionRecord{TopicID: testTopicID, Partition: 3, Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, AddingReplicas: []int32{2}, RemovingReplicas: []int32{2}}, ErrInvalidValue},
		{"partition removing all", &PartitionRecord{TopicID: testTopicID, Partition: 3, Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, RemovingReplicas: []int32{2, 1}}, ErrInvalidValue},
		{"change replicas drop adding", &PartitionChangeRecord{TopicID: testTopicID, Partition: 0, Replicas: []int32{1, 2}, Leader: LeaderUnchanged, PartitionEpoch: 1, AddingReplicas: []int32{3}}, ErrInvalidValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := cluster(t)
			before := snapshot(t, img)
			next, err := img.Apply(tc.r)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Apply: %v, want %v", err, tc.want)
			}
			if next != img {
				t.Fatal("a failed Apply returned another image")
			}
			if after := snapshot(t, img); !reflect.DeepEqual(before, after) {
				t.Fatalf("image changed by a failed Apply:\n%+v\n%+v", before, after)
			}
			// In a batch the same record fails the whole batch.
			ok := &TopicRecord{TopicID: UUID{42}, Name: "fresh"}
			if got, err := img.ApplyAll([]Record{ok, tc.r}); !errors.Is(err, tc.want) || got != img {
				t.Fatalf("ApplyAll: %v, image changed %v", err, got != img)
			}
		})
	}
}

// TestApplyChanges: what valid records do, including the cases at the
// edge of what Apply refuses.
func TestApplyChanges(t *testing.T) {
	img := mustApply(t, cluster(t),
		// A new leader with a higher leader epoch; the ISR grows.
		&PartitionChangeRecord{TopicID: testTopicID, Partition: 1, ISR: []int32{3, 2}, Leader: 2, LeaderEpoch: 3, PartitionEpoch: 5},
		// The leader's broker is gone: no leader, the ISR keeps its last member.
		&PartitionChangeRecord{TopicID: testTopicID, Partition: 0, ISR: []int32{1}, Leader: NoLeader, LeaderEpoch: 1, PartitionEpoch: 1},
		// The leader epoch may rise without a new leader.
		&PartitionChangeRecord{TopicID: testTopicID, Partition: 2, Replicas: []int32{3, 1}, ISR: []int32{3}, Leader: 3, LeaderEpoch: 5, PartitionEpoch: 1},
		&UnfenceBrokerRecord{NodeID: 2, BrokerEpoch: 11},
		&FenceBrokerRecord{NodeID: 1, BrokerEpoch: 10},
		&RegisterBrokerRecord{NodeID: 3, BrokerEpoch: 20, Listeners: listeners(9095), Fenced: true},
		&ConfigRecord{ResourceType: ResourceTopic, ResourceName: "orders", Name: "retention.ms", Value: "2000"},
		&ConfigRecord{ResourceType: ResourceBroker, ResourceName: "3", Name: "k", Value: "v"},
		&ConfigRecord{ResourceType: ResourceBroker, ResourceName: "3", Name: "k", Deleted: true},
		&ConfigRecord{ResourceType: ResourceBroker, ResourceName: "", Name: "never-set", Deleted: true},
	)
	p1, _ := img.Partition("orders", 1)
	p0, _ := img.Partition("orders", 0)
	p2, _ := img.Partition("orders", 2)
	if p1.Leader != 2 || p1.LeaderEpoch != 3 || p1.PartitionEpoch != 5 || !slices.Equal(p1.ISR, []int32{3, 2}) || !slices.Equal(p1.Replicas, []int32{2, 3}) {
		t.Fatalf("orders-1 %+v", p1)
	}
	if p0.Leader != NoLeader || !slices.Equal(p0.ISR, []int32{1}) {
		t.Fatalf("orders-0 %+v", p0)
	}
	if p2.Leader != 3 || p2.LeaderEpoch != 5 || !slices.Equal(p2.Replicas, []int32{3, 1}) {
		t.Fatalf("orders-2 %+v", p2)
	}
	if live := img.LiveBrokers(); len(live) != 1 || live[0].NodeID != 2 {
		t.Fatalf("LiveBrokers %+v", live)
	}
	if b, _ := img.Broker(3); b.Epoch != 20 || b.Rack != "" || b.Listeners[0].Port != 9095 {
		t.Fatalf("re-registered broker 3: %+v", b)
	}
	if v, _ := img.Config(ConfigResource{ResourceTopic, "orders"}, "retention.ms"); v != "2000" {
		t.Fatalf("retention.ms %q", v)
	}
	if img.configs.has(ConfigResource{ResourceBroker, "3"}) {
		t.Fatal("deleting the last key left the resource behind")
	}
	// Removing the topic takes its partitions and configs; its name is free again.
	img = mustApply(t, img, &RemoveTopicRecord{TopicID: testTopicID})
	if _, ok := img.Topic("orders"); ok || img.configs.len() != 0 {
		t.Fatalf("orders still there: %v, %d configs", ok, img.configs.len())
	}
	img = mustApply(t, img, &TopicRecord{TopicID: UUID{7}, Name: "orders"})
	if topic, _ := img.Topic("orders"); topic.ID() != (UUID{7}) || topic.NumPartitions() != 0 {
		t.Fatalf("recreated orders: %v %d", topic.ID(), topic.NumPartitions())
	}
}

// TestOldImageUnchanged: an image a reader holds shows exactly what it
// showed before, however many records are applied after it, while readers
// run concurrently (go test -race checks the sharing).
func TestOldImageUnchanged(t *testing.T) {
	var records []Record
	for i := range 200 {
		records = append(records, &PartitionRecord{TopicID: testTopicID, Partition: int32(3 + i), Replicas: []int32{1, 3}, ISR: []int32{1, 3}, Leader: 1})
	}
	old := mustApply(t, cluster(t), records...)
	want := snapshot(t, old)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range 20 {
				if got := snapshot(t, old); !reflect.DeepEqual(got, want) {
					t.Error("old image changed under a reader")
					return
				}
			}
		})
	}
	img := old
	for i := range 203 {
		p, _ := img.Partition("orders", int32(i))
		leader := p.Replicas[len(p.Replicas)-1]
		img = mustApply(t, img,
			&PartitionChangeRecord{TopicID: testTopicID, Partition: int32(i), Replicas: []int32{3, 1, 2}, ISR: []int32{3, 1, 2}, Leader: 3, LeaderEpoch: p.LeaderEpoch + 1, PartitionEpoch: p.PartitionEpoch + 1},
			&PartitionRecord{TopicID: testTopicID, Partition: int32(203 + i), Replicas: []int32{leader}, ISR: []int32{leader}, Leader: leader},
		)
	}
	img = mustApply(t, img,
		&ConfigRecord{ResourceType: ResourceTopic, ResourceName: "orders", Name: "retention.ms", Value: "5"},
		&FenceBrokerRecord{NodeID: 1, BrokerEpoch: 10},
		&RegisterBrokerRecord{NodeID: 4, BrokerEpoch: 1, Listeners: listeners(1)},
		&RemoveTopicRecord{TopicID: testTopicID},
		&TopicRecord{TopicID: testTopicID, Name: "orders2"},
	)
	wg.Wait()
	if got := snapshot(t, old); !reflect.DeepEqual(got, want) {
		t.Fatalf("old image changed")
	}
	if img.NumTopics() != 1 || len(snapshot(t, img).Brokers) != 4 {
		t.Fatal("the new image did not change")
	}
}

// TestImageRecords: an image written out as Records and applied to an
// empty image gives the same image and the same Hash; a change changes the
// Hash.
func TestImageRecords(t *testing.T) {
	img := mustApply(t, cluster(t),
		&ConfigRecord{ResourceType: ResourceBroker, ResourceName: "2", Name: "b", Value: "1"},
		&ConfigRecord{ResourceType: ResourceBroker, ResourceName: "", Name: "a", Value: "2"},
		&TopicRecord{TopicID: UUID{1}, Name: "a-topic"},
		&PartitionChangeRecord{TopicID: testTopicID, Partition: 1, ISR: []int32{3, 2}, Leader: 2, LeaderEpoch: 3, PartitionEpoch: 5},
	)
	rebuilt := mustApply(t, new(Image), img.Records()...)
	if !reflect.DeepEqual(snapshot(t, rebuilt), snapshot(t, img)) {
		t.Fatalf("rebuilt image differs:\n%+v\n%+v", snapshot(t, rebuilt), snapshot(t, img))
	}
	if rebuilt.Hash() != img.Hash() {
		t.Fatal("equal images hash differently")
	}
	if !reflect.DeepEqual(rebuilt.Records(), img.Records()) {
		t.Fatal("equal images give different records")
	}
	changed := mustApply(t, img, &FenceBrokerRecord{NodeID: 1, BrokerEpoch: 10})
	if changed.Hash() == img.Hash() {
		t.Fatal("fencing a broker did not change the hash")
	}
	if new(Image).Hash() == img.Hash() {
		t.Fatal("an empty image hashes as a full one")
	}
}

// TestApplyAllRecreates: within one batch, what was removed comes back
// (the last config key of a resource deleted and set again, a topic
// removed and created again with its partitions and configs), and the
// image the batch applied to keeps what it had.
func TestApplyAllRecreates(t *testing.T) {
	base := cluster(t)
	want := snapshot(t, base)
	orders := ConfigResource{ResourceTopic, "orders"}
	img := mustApply(t, base,
		&ConfigRecord{ResourceType: ResourceTopic, ResourceName: "orders", Name: "retention.ms", Deleted: true},
		&ConfigRecord{ResourceType: ResourceTopic, ResourceName: "orders", Name: "cleanup.policy", Value: "compact"},
		&RemoveTopicRecord{TopicID: testTopicID},
		&TopicRecord{TopicID: testTopicID, Name: "orders"},
		&ConfigRecord{ResourceType: ResourceTopic, ResourceName: "orders", Name: "segment.bytes", Value: "1024"},
		&PartitionRecord{TopicID: testTopicID, Partition: 0, Replicas: []int32{3}, ISR: []int32{3}, Leader: 3},
		&PartitionChangeRecord{TopicID: testTopicID, Partition: 0, ISR: []int32{}, Leader: NoLeader, LeaderEpoch: 1, PartitionEpoch: 1},
	)
	if got := maps.Collect(img.Configs(orders)); !reflect.DeepEqual(got, map[string]string{"segment.bytes": "1024"}) {
		t.Fatalf("configs of the new orders: %v", got)
	}
	if p, _ := img.Partition("orders", 0); p.Leader != NoLeader || p.PartitionEpoch != 1 {
		t.Fatalf("orders-0 %+v", p)
	}
	if topic, _ := img.Topic("orders"); topic.NumPartitions() != 1 {
		t.Fatalf("%d partitions", topic.NumPartitions())
	}
	if got := snapshot(t, base); !reflect.DeepEqual(got, want) {
		t.Fatal("the base image changed")
	}
}

// TestApplyReassignment: a reassignment's replicas go into the partition,
// stay through changes that do not name them, are cleared by empty lists,
// and the image writes them out (Records) so that a snapshot rebuilds it.
func TestApplyReassignment(t *testing.T) {
	img := mustApply(t, cluster(t), &PartitionChangeRecord{TopicID: testTopicID, Partition: 0, Replicas: []int32{3, 1, 2},
		Leader: LeaderUnchanged, PartitionEpoch: 1, AddingReplicas: []int32{3}, RemovingReplicas: []int32{2}})
	p, _ := img.Partition("orders", 0)
	if !p.Reassigning() || !slices.Equal(p.AddingReplicas, []int32{3}) || !slices.Equal(p.RemovingReplicas, []int32{2}) {
		t.Fatalf("after the start: %+v", p)
	}
	rebuilt := mustApply(t, new(Image), img.Records()...)
	if rebuilt.Hash() != img.Hash() || !reflect.DeepEqual(snapshot(t, rebuilt), snapshot(t, img)) {
		t.Fatal("the records of an image with a reassignment do not rebuild it")
	}
	img = mustApply(t, img, &PartitionChangeRecord{TopicID: testTopicID, Partition: 0, ISR: []int32{1, 2, 3}, Leader: LeaderUnchanged, PartitionEpoch: 2})
	if p, _ = img.Partition("orders", 0); !slices.Equal(p.AddingReplicas, []int32{3}) {
		t.Fatalf("an ISR change dropped the reassignment: %+v", p)
	}
	img = mustApply(t, img, &PartitionChangeRecord{TopicID: testTopicID, Partition: 0, Replicas: []int32{3, 1}, ISR: []int32{1, 3},
		Leader: LeaderUnchanged, LeaderEpoch: 1, PartitionEpoch: 3, AddingReplicas: []int32{}, RemovingReplicas: []int32{}})
	if p, _ = img.Partition("orders", 0); p.Reassigning() || p.AddingReplicas != nil || p.RemovingReplicas != nil {
		t.Fatalf("after the completion: %+v", p)
	}
}

// TestApplyProducerIDs: each ProducerIDsRecord must move the next producer id up; an image
// with reservations gives them back in Records (so a snapshot keeps them), and one without
// hashes as an image before the record type existed.
func TestApplyProducerIDs(t *testing.T) {
	base := cluster(t)
	before := base.Hash()
	if len(base.Records()) != len(mustApply(t, new(Image), base.Records()...).Records()) || base.NextProducerID() != 0 {
		t.Fatal("an image without reservations changed")
	}
	img := mustApply(t, base, &ProducerIDsRecord{BrokerID: 1, BrokerEpoch: 10, NextProducerID: 4 << 32},
		&ProducerIDsRecord{BrokerID: 2, BrokerEpoch: 11, NextProducerID: 4<<32 + 1000})
	if got := img.NextProducerID(); got != 4<<32+1000 {
		t.Fatalf("NextProducerID = %d", got)
	}
	if img.Hash() == before || base.Hash() != before {
		t.Fatal("a reservation did not change the hash, or changed the base image's")
	}
	for _, next := range []int64{4<<32 + 1000, 4 << 32, -1} {
		if _, err := img.Apply(&ProducerIDsRecord{BrokerID: 1, BrokerEpoch: 10, NextProducerID: next}); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("next producer id %d: err %v, want ErrInvalidValue", next, err)
		}
	}
	rebuilt := mustApply(t, new(Image), img.Records()...)
	if rebuilt.NextProducerID() != img.NextProducerID() || rebuilt.Hash() != img.Hash() {
		t.Fatalf("rebuilt from Records: next %d, want %d", rebuilt.NextProducerID(), img.NextProducerID())
	}
}

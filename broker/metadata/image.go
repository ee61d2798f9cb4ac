package metadata

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// Errors of Apply, each wrapped with the record and the detail. A record
// that fails leaves the image as it was.
var (
	// ErrUnknownTopic: a partition, change, config or removal for a topic
	// the image does not hold.
	ErrUnknownTopic = errors.New("metadata: unknown topic")
	// ErrUnknownPartition: a change to a partition the topic does not have.
	ErrUnknownPartition = errors.New("metadata: unknown partition")
	// ErrUnknownBroker: fencing or unfencing a broker never registered.
	ErrUnknownBroker = errors.New("metadata: unknown broker")
	// ErrStaleEpoch: a broker epoch or partition epoch that is not the one
	// the image expects (a record computed from an older image).
	ErrStaleEpoch = errors.New("metadata: stale epoch")
	// ErrExists: a topic id or name, or a partition, that exists already.
	ErrExists = errors.New("metadata: already exists")
	// ErrInvalidValue: a field whose value no image may hold (a leader
	// outside the ISR, duplicate replicas, an empty name, ...).
	ErrInvalidValue = errors.New("metadata: invalid value")
)

// MaxTopicNameLen is the longest topic name the image takes, Kafka's 249.
// Which characters are legal is for the controller to check (the broker's
// topic name rules); the image refuses only what would break it.
const MaxTopicNameLen = 249

// Image is the cluster's metadata as the committed records left it:
// brokers, topics with their partitions, and configs. An Image never
// changes: Apply returns a new one that shares every map and partition
// chunk the record did not touch, so any number of goroutines may read an
// image while a newer one is built. The zero Image (new(Image)) is the
// empty cluster. Slices inside returned values (replicas, ISR, listeners)
// are shared with the image: read them, never write to them.
type Image struct {
	brokers map[int32]*Broker // few: copied whole on a change
	topics  shardMap[UUID, *Topic]
	names   shardMap[string, UUID] // topic name to id
	configs shardMap[ConfigResource, map[string]string]
	// nextProducerID is the first producer id not yet reserved (ProducerIDsRecord); 0 before
	// any reservation.
	nextProducerID int64
}

// NextProducerID is the first producer id no ProducerIDsRecord has reserved yet: 0 when
// none has.
func (img *Image) NextProducerID() int64 { return img.nextProducerID }

// ConfigResource names what a config belongs to: a topic by name or a
// broker by node id in decimal ("" for the cluster default).
type ConfigResource struct {
	Type int8 // ResourceTopic or ResourceBroker
	Name string
}

// Broker is a registered broker.
type Broker struct {
	NodeID        int32
	IncarnationID UUID
	Epoch         int64
	Listeners     []Listener
	Rack          string
	Fenced        bool
}

// Listener returns the broker's endpoint on the listener called name.
func (b Broker) Listener(name string) (Listener, bool) {
	for _, l := range b.Listeners {
		if l.Name == name {
			return l, true
		}
	}
	return Listener{}, false
}

// Partition is a partition's state: its replicas in placement order, the
// in-sync replicas, the leader (NoLeader for none) and its epochs. During a
// reassignment (KIP-455) Replicas holds the target replicas then the ones
// being removed, AddingReplicas the targets not yet replicas before it and
// RemovingReplicas the replicas it removes; both are nil otherwise.
type Partition struct {
	Partition        int32
	Replicas         []int32
	ISR              []int32
	Leader           int32
	LeaderEpoch      int32
	PartitionEpoch   int32
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// Reassigning reports whether a reassignment of the partition is under way.
func (p Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// chunkSize is how many partitions share one copy-on-write chunk: a change
// to one partition copies its chunk and the topic's chunk list, never all
// of a large topic's partitions.
const chunkSize = 64

// Topic is a topic of an image: id, name and partitions 0..n-1 (always
// dense: partitions are created in order).
type Topic struct {
	id     UUID
	name   string
	chunks [][]Partition // chunks[i] holds partitions i*chunkSize ...; shared between images
	n      int32
}

// ID is the topic's id.
func (t *Topic) ID() UUID { return t.id }

// Name is the topic's name.
func (t *Topic) Name() string { return t.name }

// NumPartitions is the number of partitions of the topic.
func (t *Topic) NumPartitions() int32 { return t.n }

// Partition returns partition p of the topic.
func (t *Topic) Partition(p int32) (Partition, bool) {
	if p < 0 || p >= t.n {
		return Partition{}, false
	}
	return t.chunks[p/chunkSize][p%chunkSize], true
}

// Partitions yields the topic's partitions in order.
func (t *Topic) Partitions() iter.Seq[Partition] {
	return func(yield func(Partition) bool) {
		for i := range t.n {
			if !yield(t.chunks[i/chunkSize][i%chunkSize]) {
				return
			}
		}
	}
}

// Topic returns the topic called name.
func (img *Image) Topic(name string) (*Topic, bool) {
	id, ok := img.names.get(name)
	if !ok {
		return nil, false
	}
	return img.topics.get(id)
}

// TopicByID returns the topic with id.
func (img *Image) TopicByID(id UUID) (*Topic, bool) {
	return img.topics.get(id)
}

// Topics yields every topic, in no particular order.
func (img *Image) Topics() iter.Seq[*Topic] {
	return func(yield func(*Topic) bool) {
		for _, t := range img.topics.all() {
			if !yield(t) {
				return
			}
		}
	}
}

// NumTopics is the number of topics.
func (img *Image) NumTopics() int { return img.topics.len() }

// Partition returns partition p of the topic called name: what request
// routing reads (its Leader and LeaderEpoch).
func (img *Image) Partition(name string, p int32) (Partition, bool) {
	t, ok := img.Topic(name)
	if !ok {
		return Partition{}, false
	}
	return t.Partition(p)
}

// Broker returns the registered broker with id.
func (img *Image) Broker(id int32) (Broker, bool) {
	b, ok := img.brokers[id]
	if !ok {
		return Broker{}, false
	}
	return *b, true
}

// Brokers returns every registered broker, fenced or not, by node id.
func (img *Image) Brokers() []Broker { return img.brokersWhere(func(*Broker) bool { return true }) }

// LiveBrokers returns the unfenced brokers by node id: those Metadata and
// DescribeCluster list and placement may use.
func (img *Image) LiveBrokers() []Broker {
	return img.brokersWhere(func(b *Broker) bool { return !b.Fenced })
}

func (img *Image) brokersWhere(keep func(*Broker) bool) []Broker {
	var out []Broker
	for _, b := range img.brokers {
		if keep(b) {
			out = append(out, *b)
		}
	}
	slices.SortFunc(out, func(a, b Broker) int { return int(a.NodeID) - int(b.NodeID) })
	return out
}

// Config returns the value of key set on res.
func (img *Image) Config(res ConfigResource, key string) (string, bool) {
	m, _ := img.configs.get(res)
	v, ok := m[key]
	return v, ok
}

// Configs yields the keys set on res and their values, in no particular
// order.
func (img *Image) Configs(res ConfigResource) iter.Seq2[string, string] {
	m, _ := img.configs.get(res)
	return maps.All(m)
}

// Holder holds the current image for readers that never lock: the broker's
// request handlers Load it, the one goroutine applying committed records
// Publishes each new image.
type Holder struct {
	p atomic.Pointer[Image]
}

// empty is the image a Holder returns before the first Publish.
var empty = new(Image)

// Load returns the current image (the empty image before any Publish).
func (h *Holder) Load() *Image {
	if img := h.p.Load(); img != nil {
		return img
	}
	return empty
}

// Publish makes img the current image.
func (h *Holder) Publish(img *Image) { h.p.Store(img) }

// Records returns the image as records that, applied in order to an empty
// image, build an image equal to img: each broker's registration (with its
// fenced state), then per topic its TopicRecord, ConfigRecords and
// PartitionRecords, then the broker configs, then a ProducerIDsRecord once ids were
// reserved (an image without one hashes as before the record existed); all sorted (brokers by node
// id, topics by name, configs by key), so equal images give equal records.
// It is what a metadata snapshot holds. The records share their slices
// (listeners, replicas, ISR) with the image: read them, never write to them.
func (img *Image) Records() []Record {
	var out []Record
	for _, b := range img.Brokers() {
		out = append(out, &RegisterBrokerRecord{NodeID: b.NodeID, IncarnationID: b.IncarnationID, BrokerEpoch: b.Epoch,
			Listeners: b.Listeners, Rack: b.Rack, Fenced: b.Fenced})
	}
	configs := func(res ConfigResource) {
		for _, k := range slices.Sorted(maps.Keys(maps.Collect(img.Configs(res)))) {
			v, _ := img.Config(res, k)
			out = append(out, &ConfigRecord{ResourceType: res.Type, ResourceName: res.Name, Name: k, Value: v})
		}
	}
	topics := slices.SortedFunc(img.Topics(), func(a, b *Topic) int { return strings.Compare(a.name, b.name) })
	for _, t := range topics {
		out = append(out, &TopicRecord{TopicID: t.id, Name: t.name})
		configs(ConfigResource{Type: ResourceTopic, Name: t.name})
		for p := range t.Partitions() {
			out = append(out, &PartitionRecord{TopicID: t.id, Partition: p.Partition, Replicas: p.Replicas, ISR: p.ISR,
				Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
				AddingReplicas: p.AddingReplicas, RemovingReplicas: p.RemovingReplicas})
		}
	}
	var brokerConfigs []ConfigResource
	for res := range img.configs.all() {
		if res.Type == ResourceBroker {
			brokerConfigs = append(brokerConfigs, res)
		}
	}
	slices.SortFunc(brokerConfigs, func(a, b ConfigResource) int { return strings.Compare(a.Name, b.Name) })
	for _, res := range brokerConfigs {
		configs(res)
	}
	if img.nextProducerID > 0 {
		out = append(out, &ProducerIDsRecord{BrokerID: -1, BrokerEpoch: -1, NextProducerID: img.nextProducerID})
	}
	return out
}

// Hash is a SHA-256 of the image's content (of Records, encoded): two
// brokers whose images hash the same hold the same metadata.
func (img *Image) Hash() [sha256.Size]byte {
	h := sha256.New()
	var buf []byte
	for _, r := range img.Records() {
		var err error
		if buf, err = AppendRecord(buf[:0], r); err != nil {
			// Apply refuses what the format cannot hold (checkEncodable).
			panic(fmt.Sprintf("metadata: an image holds an unencodable record: %v", err))
		}
		h.Write(buf)
	}
	return [sha256.Size]byte(h.Sum(nil))
}

// checkEncodable refuses strings and arrays longer than the format holds
// and strings that are not UTF-8 (topic names are checked by createTopic),
// so that every image can be written out as records (Records, Hash).
func checkEncodable(r Record) error {
	var strs []string
	var arrays [][]int32
	switch r := r.(type) {
	case *RegisterBrokerRecord:
		strs = append(strs, r.Rack)
		for _, l := range r.Listeners {
			strs = append(strs, l.Name, l.Host)
		}
		if len(r.Listeners) > maxLen {
			return invalid("%d listeners", len(r.Listeners))
		}
	case *PartitionRecord:
		arrays = [][]int32{r.Replicas, r.ISR, r.AddingReplicas, r.RemovingReplicas}
	case *PartitionChangeRecord:
		arrays = [][]int32{r.Replicas, r.ISR, r.AddingReplicas, r.RemovingReplicas}
	case *ConfigRecord:
		strs = []string{r.ResourceName, r.Name, r.Value}
	}
	for _, s := range strs {
		if len(s) > maxLen || !utf8.ValidString(s) {
			return invalid("a string of %d bytes, longer than %d or not UTF-8", len(s), maxLen)
		}
	}
	for _, a := range arrays {
		if len(a) > maxLen {
			return invalid("an array of %d elements", len(a))
		}
	}
	return nil
}

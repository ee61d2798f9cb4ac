package metadata

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
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
}

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
// in-sync replicas, the leader (NoLeader for none) and its epochs.
type Partition struct {
	Partition      int32
	Replicas       []int32
	ISR            []int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
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
		for _, c := range t.chunks {
			for _, p := range c {
				if !yield(p) {
					return
				}
			}
		}
	}
}

// withPartition returns a copy of t with p set (p.Partition < t.n) or
// appended (p.Partition == t.n), copying only the chunk list and the chunk
// that holds p.
func (t *Topic) withPartition(p Partition) *Topic {
	nt := *t
	nt.chunks = slices.Clone(t.chunks)
	i, j := int(p.Partition/chunkSize), int(p.Partition%chunkSize)
	if i == len(nt.chunks) {
		nt.chunks = append(nt.chunks, make([]Partition, 0, chunkSize))
	}
	c := slices.Clone(nt.chunks[i])
	if j == len(c) {
		c = append(c, p)
		nt.n++
	} else {
		c[j] = p
	}
	nt.chunks[i] = c
	return &nt
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

// ApplyAll applies records in order and returns the image after the last
// one; if one fails, it returns img (unchanged) and that error.
func (img *Image) ApplyAll(records []Record) (*Image, error) {
	next := img
	for i, r := range records {
		var err error
		if next, err = next.Apply(r); err != nil {
			return img, fmt.Errorf("record %d of %d: %w", i, len(records), err)
		}
	}
	return next, nil
}

// Apply returns the image with r applied, or img and an error if r cannot
// apply to img (see the Err* variables); img itself never changes.
func (img *Image) Apply(r Record) (*Image, error) {
	if err := checkEncodable(r); err != nil {
		return img, fmt.Errorf("applying %v: %w", r.Type(), err)
	}
	var err error
	var next *Image
	switch r := r.(type) {
	case *RegisterBrokerRecord:
		next, err = img.registerBroker(r)
	case *FenceBrokerRecord:
		next, err = img.setFenced(r.NodeID, r.BrokerEpoch, true)
	case *UnfenceBrokerRecord:
		next, err = img.setFenced(r.NodeID, r.BrokerEpoch, false)
	case *TopicRecord:
		next, err = img.createTopic(r)
	case *PartitionRecord:
		next, err = img.createPartition(r)
	case *PartitionChangeRecord:
		next, err = img.changePartition(r)
	case *ConfigRecord:
		next, err = img.setConfig(r)
	case *RemoveTopicRecord:
		next, err = img.removeTopic(r)
	default:
		return img, fmt.Errorf("%w: record of type %T", ErrUnknownRecord, r)
	}
	if err != nil {
		return img, fmt.Errorf("applying %v: %w", r.Type(), err)
	}
	return next, nil
}

// shallow returns a copy of img sharing all its maps; the caller replaces
// the ones it changes with changed copies.
func (img *Image) shallow() *Image {
	next := *img
	return &next
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidValue, fmt.Sprintf(format, args...))
}

func (img *Image) registerBroker(r *RegisterBrokerRecord) (*Image, error) {
	if r.NodeID < 0 {
		return nil, invalid("node id %d", r.NodeID)
	}
	if len(r.Listeners) == 0 {
		return nil, invalid("broker %d has no listener", r.NodeID)
	}
	for i, l := range r.Listeners {
		if l.Name == "" || l.Host == "" || l.Port == 0 {
			return nil, invalid("broker %d listener %q at %q:%d", r.NodeID, l.Name, l.Host, l.Port)
		}
		if l.SecurityProtocol < ProtocolPlaintext || l.SecurityProtocol > ProtocolSASLSSL {
			return nil, invalid("broker %d listener %q security protocol %d", r.NodeID, l.Name, l.SecurityProtocol)
		}
		if slices.ContainsFunc(r.Listeners[:i], func(o Listener) bool { return o.Name == l.Name }) {
			return nil, invalid("broker %d has listener %q twice", r.NodeID, l.Name)
		}
	}
	if old, ok := img.brokers[r.NodeID]; ok && r.BrokerEpoch <= old.Epoch {
		return nil, fmt.Errorf("%w: broker %d registers with epoch %d, not above its epoch %d", ErrStaleEpoch, r.NodeID, r.BrokerEpoch, old.Epoch)
	}
	next := img.shallow()
	next.brokers = with(img.brokers, r.NodeID, &Broker{
		NodeID:        r.NodeID,
		IncarnationID: r.IncarnationID,
		Epoch:         r.BrokerEpoch,
		Listeners:     slices.Clone(r.Listeners),
		Rack:          r.Rack,
		Fenced:        r.Fenced,
	})
	return next, nil
}

func (img *Image) setFenced(id int32, epoch int64, fenced bool) (*Image, error) {
	old, ok := img.brokers[id]
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrUnknownBroker, id)
	}
	if epoch != old.Epoch {
		return nil, fmt.Errorf("%w: broker %d epoch %d, registered with %d", ErrStaleEpoch, id, epoch, old.Epoch)
	}
	if old.Fenced == fenced {
		return nil, invalid("broker %d is already fenced=%v", id, fenced)
	}
	b := *old
	b.Fenced = fenced
	next := img.shallow()
	next.brokers = with(img.brokers, id, &b)
	return next, nil
}

func (img *Image) createTopic(r *TopicRecord) (*Image, error) {
	if r.TopicID == (UUID{}) {
		return nil, invalid("topic %q has the zero id", r.Name)
	}
	if r.Name == "" || len(r.Name) > MaxTopicNameLen || !utf8.ValidString(r.Name) {
		return nil, invalid("topic name of %d bytes", len(r.Name))
	}
	if img.topics.has(r.TopicID) {
		return nil, fmt.Errorf("%w: topic id %v", ErrExists, r.TopicID)
	}
	if img.names.has(r.Name) {
		return nil, fmt.Errorf("%w: topic %q", ErrExists, r.Name)
	}
	next := img.shallow()
	next.topics = img.topics.with(r.TopicID, &Topic{id: r.TopicID, name: r.Name})
	next.names = img.names.with(r.Name, r.TopicID)
	return next, nil
}

// checkAssignment checks replicas, ISR and leader as a partition holds
// them: replicas non-empty, distinct node ids; the ISR distinct replicas;
// the leader NoLeader or in the ISR.
func checkAssignment(replicas, isr []int32, leader int32) error {
	if len(replicas) == 0 {
		return invalid("no replicas")
	}
	for i, id := range replicas {
		if id < 0 || slices.Contains(replicas[:i], id) {
			return invalid("replicas %v", replicas)
		}
	}
	for i, id := range isr {
		if !slices.Contains(replicas, id) || slices.Contains(isr[:i], id) {
			return invalid("isr %v with replicas %v", isr, replicas)
		}
	}
	if leader != NoLeader && !slices.Contains(isr, leader) {
		return invalid("leader %d not in isr %v", leader, isr)
	}
	return nil
}

func (img *Image) createPartition(r *PartitionRecord) (*Image, error) {
	t, ok := img.topics.get(r.TopicID)
	if !ok {
		return nil, fmt.Errorf("%w: id %v", ErrUnknownTopic, r.TopicID)
	}
	if r.Partition < t.n {
		return nil, fmt.Errorf("%w: partition %s-%d", ErrExists, t.name, r.Partition)
	}
	if r.Partition != t.n {
		return nil, invalid("partition %s-%d created before partition %d", t.name, r.Partition, t.n)
	}
	if err := checkAssignment(r.Replicas, r.ISR, r.Leader); err != nil {
		return nil, fmt.Errorf("partition %s-%d: %w", t.name, r.Partition, err)
	}
	if r.LeaderEpoch < 0 || r.PartitionEpoch < 0 {
		return nil, invalid("partition %s-%d epochs %d, %d", t.name, r.Partition, r.LeaderEpoch, r.PartitionEpoch)
	}
	next := img.shallow()
	next.topics = img.topics.with(t.id, t.withPartition(Partition{
		Partition:      r.Partition,
		Replicas:       slices.Clone(r.Replicas),
		ISR:            slices.Clone(r.ISR),
		Leader:         r.Leader,
		LeaderEpoch:    r.LeaderEpoch,
		PartitionEpoch: r.PartitionEpoch,
	}))
	return next, nil
}

func (img *Image) changePartition(r *PartitionChangeRecord) (*Image, error) {
	t, ok := img.topics.get(r.TopicID)
	if !ok {
		return nil, fmt.Errorf("%w: id %v", ErrUnknownTopic, r.TopicID)
	}
	p, ok := t.Partition(r.Partition)
	if !ok {
		return nil, fmt.Errorf("%w: %s-%d", ErrUnknownPartition, t.name, r.Partition)
	}
	if r.PartitionEpoch != p.PartitionEpoch+1 {
		return nil, fmt.Errorf("%w: partition %s-%d epoch %d, expected %d", ErrStaleEpoch, t.name, r.Partition, r.PartitionEpoch, p.PartitionEpoch+1)
	}
	np := p
	if r.Replicas != nil {
		np.Replicas = slices.Clone(r.Replicas)
	}
	if r.ISR != nil {
		np.ISR = slices.Clone(r.ISR)
	}
	switch {
	case r.Leader == LeaderUnchanged:
	case r.Leader >= NoLeader:
		np.Leader = r.Leader
	default:
		return nil, invalid("partition %s-%d leader %d", t.name, r.Partition, r.Leader)
	}
	if err := checkAssignment(np.Replicas, np.ISR, np.Leader); err != nil {
		return nil, fmt.Errorf("partition %s-%d: %w", t.name, r.Partition, err)
	}
	if r.LeaderEpoch < p.LeaderEpoch || (np.Leader != p.Leader && r.LeaderEpoch == p.LeaderEpoch) {
		return nil, fmt.Errorf("%w: partition %s-%d leader epoch %d after %d (leader %d to %d)", ErrStaleEpoch, t.name, r.Partition, r.LeaderEpoch, p.LeaderEpoch, p.Leader, np.Leader)
	}
	np.LeaderEpoch = r.LeaderEpoch
	np.PartitionEpoch = r.PartitionEpoch
	next := img.shallow()
	next.topics = img.topics.with(t.id, t.withPartition(np))
	return next, nil
}

func (img *Image) setConfig(r *ConfigRecord) (*Image, error) {
	switch r.ResourceType {
	case ResourceTopic:
		if !img.names.has(r.ResourceName) {
			return nil, fmt.Errorf("%w: config of %q", ErrUnknownTopic, r.ResourceName)
		}
	case ResourceBroker:
		if r.ResourceName != "" {
			id, err := strconv.ParseInt(r.ResourceName, 10, 32)
			if err != nil || id < 0 || strconv.FormatInt(id, 10) != r.ResourceName {
				return nil, invalid("broker config resource %q", r.ResourceName)
			}
		}
	default:
		return nil, invalid("config resource type %d", r.ResourceType)
	}
	if r.Name == "" {
		return nil, invalid("config of %q with an empty key", r.ResourceName)
	}
	res := ConfigResource{Type: r.ResourceType, Name: r.ResourceName}
	old, _ := img.configs.get(res)
	next := img.shallow()
	switch {
	case !r.Deleted:
		next.configs = img.configs.with(res, with(old, r.Name, r.Value))
	case len(old) == 1 && hasKey(old, r.Name):
		next.configs = img.configs.without(res) // its last key: no empty map left behind
	case hasKey(old, r.Name):
		next.configs = img.configs.with(res, without(old, r.Name))
	}
	return next, nil
}

func hasKey[K comparable, V any](m map[K]V, k K) bool {
	_, ok := m[k]
	return ok
}

func (img *Image) removeTopic(r *RemoveTopicRecord) (*Image, error) {
	t, ok := img.topics.get(r.TopicID)
	if !ok {
		return nil, fmt.Errorf("%w: id %v", ErrUnknownTopic, r.TopicID)
	}
	next := img.shallow()
	next.topics = img.topics.without(t.id)
	next.names = img.names.without(t.name)
	next.configs = img.configs.without(ConfigResource{Type: ResourceTopic, Name: t.name})
	return next, nil
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
// PartitionRecords, then the broker configs; all sorted (brokers by node
// id, topics by name, configs by key), so equal images give equal records.
// It is what a metadata snapshot holds.
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
				Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch})
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
		arrays = [][]int32{r.Replicas, r.ISR}
	case *PartitionChangeRecord:
		arrays = [][]int32{r.Replicas, r.ISR}
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

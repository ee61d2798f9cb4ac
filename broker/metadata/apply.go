package metadata

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// ApplyAll applies records in order and returns the image after the last
// one; if one fails, it returns img (unchanged) and that error. The
// records are applied to one private copy, which is then published as the
// new image: each map shard, topic and partition chunk is copied at most
// once per call, so applying a snapshot or a batch creating many
// partitions costs about what building the image from scratch does.
func (img *Image) ApplyAll(records []Record) (*Image, error) {
	b := newBuilder(img)
	for i, r := range records {
		if err := b.apply(r); err != nil {
			return img, fmt.Errorf("record %d of %d: %w", i, len(records), err)
		}
	}
	return b.img, nil
}

// Apply returns the image with r applied, or img and an error if r cannot
// apply to img (see the Err* variables); img itself never changes.
func (img *Image) Apply(r Record) (*Image, error) {
	b := newBuilder(img)
	if err := b.apply(r); err != nil {
		return img, err
	}
	return b.img, nil
}

// builder applies records to a copy of an image. It owns what it has
// copied (the broker map, shard tables and shards, topics, partition
// chunks, config maps) and changes those in place; everything else is
// still shared with the base image and is copied before its first change.
// Once its image is returned the builder is dropped, so the image is never
// written again.
type builder struct {
	img            *Image
	brokersOwned   bool
	topics         shardOwner
	names          shardOwner
	configs        shardOwner
	topicsOwned    map[*Topic]bool
	chunksOwned    map[*Partition]bool // by the address of a chunk's first partition
	configMapOwned map[ConfigResource]bool
}

// shardOwner records which parts of one shardMap a builder has copied.
type shardOwner struct {
	table bool
	shard [1 << shardBits]bool
}

func newBuilder(base *Image) *builder {
	img := *base
	return &builder{img: &img}
}

// set sets k to v in m (a field of the builder's image), copying the shard
// table and k's shard the first time.
func set[K comparable, V any](m *shardMap[K, V], o *shardOwner, k K, v V) {
	shard := own(m, o, k)
	if _, ok := shard[k]; !ok {
		m.n++
	}
	shard[k] = v
}

// remove deletes k from m as set sets it.
func remove[K comparable, V any](m *shardMap[K, V], o *shardOwner, k K) {
	if !m.has(k) {
		return
	}
	delete(own(m, o, k), k)
	m.n--
}

// own returns k's shard of m, owned by o: copied (table and shard) unless
// o copied it before.
func own[K comparable, V any](m *shardMap[K, V], o *shardOwner, k K) map[K]V {
	if !o.table {
		shards := new([1 << shardBits]map[K]V)
		if m.shards != nil {
			*shards = *m.shards
		}
		m.shards = shards
		o.table = true
	}
	i := shardOf(k)
	if !o.shard[i] {
		c := make(map[K]V, len(m.shards[i])+1)
		maps.Copy(c, m.shards[i])
		m.shards[i] = c
		o.shard[i] = true
	}
	return m.shards[i]
}

func (b *builder) setBroker(br *Broker) {
	if !b.brokersOwned {
		c := make(map[int32]*Broker, len(b.img.brokers)+1)
		maps.Copy(c, b.img.brokers)
		b.img.brokers = c
		b.brokersOwned = true
	}
	b.img.brokers[br.NodeID] = br
}

// ownTopic returns the builder's own copy of t (t itself if it made t),
// placed in the image.
func (b *builder) ownTopic(t *Topic) *Topic {
	if b.topicsOwned[t] {
		return t
	}
	nt := *t
	nt.chunks = slices.Clone(t.chunks)
	if b.topicsOwned == nil {
		b.topicsOwned = map[*Topic]bool{}
	}
	b.topicsOwned[&nt] = true
	set(&b.img.topics, &b.topics, nt.id, &nt)
	return &nt
}

// setPartition sets p in t (owned by the builder): p.Partition < t.n
// replaces a partition, p.Partition == t.n appends one.
func (b *builder) setPartition(t *Topic, p Partition) {
	i, j := p.Partition/chunkSize, p.Partition%chunkSize
	if int(i) == len(t.chunks) {
		t.chunks = append(t.chunks, nil)
	}
	c := t.chunks[i]
	if len(c) == 0 || !b.chunksOwned[&c[0]] {
		c = slices.Clone(c)
	}
	if int(j) == len(c) {
		c = append(c, p)
		t.n++
	} else {
		c[j] = p
	}
	t.chunks[i] = c
	if b.chunksOwned == nil {
		b.chunksOwned = map[*Partition]bool{}
	}
	b.chunksOwned[&c[0]] = true // (append may have moved it)
}

// apply checks r against the image and, only if it applies, applies it.
func (b *builder) apply(r Record) error {
	if err := checkEncodable(r); err != nil {
		return fmt.Errorf("applying %v: %w", r.Type(), err)
	}
	var err error
	switch r := r.(type) {
	case *RegisterBrokerRecord:
		err = b.registerBroker(r)
	case *FenceBrokerRecord:
		err = b.setFenced(r.NodeID, r.BrokerEpoch, true)
	case *UnfenceBrokerRecord:
		err = b.setFenced(r.NodeID, r.BrokerEpoch, false)
	case *TopicRecord:
		err = b.createTopic(r)
	case *PartitionRecord:
		err = b.createPartition(r)
	case *PartitionChangeRecord:
		err = b.changePartition(r)
	case *ConfigRecord:
		err = b.setConfig(r)
	case *RemoveTopicRecord:
		err = b.removeTopic(r)
	case *ProducerIDsRecord:
		err = b.reserveProducerIDs(r)
	default:
		return fmt.Errorf("%w: record of type %T", ErrUnknownRecord, r)
	}
	if err != nil {
		return fmt.Errorf("applying %v: %w", r.Type(), err)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidValue, fmt.Sprintf(format, args...))
}

func (b *builder) registerBroker(r *RegisterBrokerRecord) error {
	if r.NodeID < 0 {
		return invalid("node id %d", r.NodeID)
	}
	if len(r.Listeners) == 0 {
		return invalid("broker %d has no listener", r.NodeID)
	}
	for i, l := range r.Listeners {
		if l.Name == "" || l.Host == "" {
			return invalid("broker %d listener %q at %q:%d", r.NodeID, l.Name, l.Host, l.Port)
		}
		if l.SecurityProtocol < ProtocolPlaintext || l.SecurityProtocol > ProtocolSASLSSL {
			return invalid("broker %d listener %q security protocol %d", r.NodeID, l.Name, l.SecurityProtocol)
		}
		if slices.ContainsFunc(r.Listeners[:i], func(o Listener) bool { return o.Name == l.Name }) {
			return invalid("broker %d has listener %q twice", r.NodeID, l.Name)
		}
	}
	if old, ok := b.img.brokers[r.NodeID]; ok && r.BrokerEpoch <= old.Epoch {
		return fmt.Errorf("%w: broker %d registers with epoch %d, not above its epoch %d", ErrStaleEpoch, r.NodeID, r.BrokerEpoch, old.Epoch)
	}
	b.setBroker(&Broker{
		NodeID:        r.NodeID,
		IncarnationID: r.IncarnationID,
		Epoch:         r.BrokerEpoch,
		Listeners:     slices.Clone(r.Listeners),
		Rack:          r.Rack,
		Fenced:        r.Fenced,
	})
	return nil
}

func (b *builder) setFenced(id int32, epoch int64, fenced bool) error {
	old, ok := b.img.brokers[id]
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownBroker, id)
	}
	if epoch != old.Epoch {
		return fmt.Errorf("%w: broker %d epoch %d, registered with %d", ErrStaleEpoch, id, epoch, old.Epoch)
	}
	if old.Fenced == fenced {
		return invalid("broker %d is already fenced=%v", id, fenced)
	}
	br := *old
	br.Fenced = fenced
	b.setBroker(&br)
	return nil
}

func (b *builder) createTopic(r *TopicRecord) error {
	if r.TopicID == (UUID{}) {
		return invalid("topic %q has the zero id", r.Name)
	}
	if r.Name == "" || len(r.Name) > MaxTopicNameLen || !utf8.ValidString(r.Name) {
		return invalid("topic name of %d bytes", len(r.Name))
	}
	if b.img.topics.has(r.TopicID) {
		return fmt.Errorf("%w: topic id %v", ErrExists, r.TopicID)
	}
	if b.img.names.has(r.Name) {
		return fmt.Errorf("%w: topic %q", ErrExists, r.Name)
	}
	t := &Topic{id: r.TopicID, name: r.Name}
	if b.topicsOwned == nil {
		b.topicsOwned = map[*Topic]bool{}
	}
	b.topicsOwned[t] = true
	set(&b.img.topics, &b.topics, r.TopicID, t)
	set(&b.img.names, &b.names, r.Name, r.TopicID)
	return nil
}

// checkAssignment checks replicas, ISR, leader and reassignment as a
// partition holds them: replicas non-empty, distinct node ids; the ISR
// distinct replicas; the leader NoLeader or in the ISR; the adding and the
// removing replicas distinct replicas, none both (Kafka's
// PartitionRegistration checks no more), the target (replicas not being
// removed) not empty.
func checkAssignment(p Partition) error {
	replicas, isr, leader := p.Replicas, p.ISR, p.Leader
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
	for _, set := range [][]int32{p.AddingReplicas, p.RemovingReplicas} {
		for i, id := range set {
			if !slices.Contains(replicas, id) || slices.Contains(set[:i], id) {
				return invalid("adding %v, removing %v with replicas %v", p.AddingReplicas, p.RemovingReplicas, replicas)
			}
		}
	}
	for _, id := range p.AddingReplicas {
		if slices.Contains(p.RemovingReplicas, id) {
			return invalid("replica %d both adding and removing", id)
		}
	}
	if len(p.RemovingReplicas) == len(replicas) {
		return invalid("every replica of %v removing", replicas)
	}
	return nil
}

// orNil is s, or nil when s is empty: an image holds no empty reassignment
// list, so that images equal in content are equal in Go (and in Records).
func orNil(s []int32) []int32 {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

func (b *builder) createPartition(r *PartitionRecord) error {
	t, ok := b.img.topics.get(r.TopicID)
	if !ok {
		return fmt.Errorf("%w: id %v", ErrUnknownTopic, r.TopicID)
	}
	if r.Partition < t.n {
		return fmt.Errorf("%w: partition %s-%d", ErrExists, t.name, r.Partition)
	}
	if r.Partition != t.n {
		return invalid("partition %s-%d created before partition %d", t.name, r.Partition, t.n)
	}
	p := Partition{
		Partition:        r.Partition,
		Replicas:         slices.Clone(r.Replicas),
		ISR:              slices.Clone(r.ISR),
		Leader:           r.Leader,
		LeaderEpoch:      r.LeaderEpoch,
		PartitionEpoch:   r.PartitionEpoch,
		AddingReplicas:   orNil(r.AddingReplicas),
		RemovingReplicas: orNil(r.RemovingReplicas),
	}
	if err := checkAssignment(p); err != nil {
		return fmt.Errorf("partition %s-%d: %w", t.name, r.Partition, err)
	}
	if r.LeaderEpoch < 0 || r.PartitionEpoch < 0 {
		return invalid("partition %s-%d epochs %d, %d", t.name, r.Partition, r.LeaderEpoch, r.PartitionEpoch)
	}
	b.setPartition(b.ownTopic(t), p)
	return nil
}

func (b *builder) changePartition(r *PartitionChangeRecord) error {
	t, ok := b.img.topics.get(r.TopicID)
	if !ok {
		return fmt.Errorf("%w: id %v", ErrUnknownTopic, r.TopicID)
	}
	p, ok := t.Partition(r.Partition)
	if !ok {
		return fmt.Errorf("%w: %s-%d", ErrUnknownPartition, t.name, r.Partition)
	}
	if r.PartitionEpoch != p.PartitionEpoch+1 {
		return fmt.Errorf("%w: partition %s-%d epoch %d, expected %d", ErrStaleEpoch, t.name, r.Partition, r.PartitionEpoch, p.PartitionEpoch+1)
	}
	np := p
	if r.Replicas != nil {
		np.Replicas = slices.Clone(r.Replicas)
	}
	if r.ISR != nil {
		np.ISR = slices.Clone(r.ISR)
	}
	if r.AddingReplicas != nil {
		np.AddingReplicas = orNil(r.AddingReplicas)
	}
	if r.RemovingReplicas != nil {
		np.RemovingReplicas = orNil(r.RemovingReplicas)
	}
	switch {
	case r.Leader == LeaderUnchanged:
	case r.Leader >= NoLeader:
		np.Leader = r.Leader
	default:
		return invalid("partition %s-%d leader %d", t.name, r.Partition, r.Leader)
	}
	if err := checkAssignment(np); err != nil {
		return fmt.Errorf("partition %s-%d: %w", t.name, r.Partition, err)
	}
	if r.LeaderEpoch < p.LeaderEpoch || (np.Leader != p.Leader && r.LeaderEpoch == p.LeaderEpoch) {
		return fmt.Errorf("%w: partition %s-%d leader epoch %d after %d (leader %d to %d)", ErrStaleEpoch, t.name, r.Partition, r.LeaderEpoch, p.LeaderEpoch, p.Leader, np.Leader)
	}
	np.LeaderEpoch = r.LeaderEpoch
	np.PartitionEpoch = r.PartitionEpoch
	b.setPartition(b.ownTopic(t), np)
	return nil
}

func (b *builder) setConfig(r *ConfigRecord) error {
	switch r.ResourceType {
	case ResourceTopic:
		if !b.img.names.has(r.ResourceName) {
			return fmt.Errorf("%w: config of %q", ErrUnknownTopic, r.ResourceName)
		}
	case ResourceBroker:
		if r.ResourceName != "" {
			id, err := strconv.ParseInt(r.ResourceName, 10, 32)
			if err != nil || id < 0 || strconv.FormatInt(id, 10) != r.ResourceName {
				return invalid("broker config resource %q", r.ResourceName)
			}
		}
	default:
		return invalid("config resource type %d", r.ResourceType)
	}
	if r.Name == "" {
		return invalid("config of %q with an empty key", r.ResourceName)
	}
	res := ConfigResource{Type: r.ResourceType, Name: r.ResourceName}
	old, _ := b.img.configs.get(res)
	if _, ok := old[r.Name]; r.Deleted && !ok {
		return nil
	}
	if r.Deleted && len(old) == 1 {
		b.removeConfigs(res) // its last key: no empty map left behind
		return nil
	}
	m := old
	if !b.configMapOwned[res] {
		m = make(map[string]string, len(old)+1)
		maps.Copy(m, old)
		if b.configMapOwned == nil {
			b.configMapOwned = map[ConfigResource]bool{}
		}
		b.configMapOwned[res] = true
		set(&b.img.configs, &b.configs, res, m)
	}
	if r.Deleted {
		delete(m, r.Name)
	} else {
		m[r.Name] = r.Value
	}
	return nil
}

func (b *builder) removeTopic(r *RemoveTopicRecord) error {
	t, ok := b.img.topics.get(r.TopicID)
	if !ok {
		return fmt.Errorf("%w: id %v", ErrUnknownTopic, r.TopicID)
	}
	remove(&b.img.topics, &b.topics, t.id)
	remove(&b.img.names, &b.names, t.name)
	b.removeConfigs(ConfigResource{Type: ResourceTopic, Name: t.name})
	return nil
}

// removeConfigs removes every config of res.
func (b *builder) removeConfigs(res ConfigResource) {
	remove(&b.img.configs, &b.configs, res)
	delete(b.configMapOwned, res) // a later config of res starts a new map
}

// reserveProducerIDs moves the next producer id block's start to r's, which must be above
// it (KRaft's ProducerIdControlManager refuses to replay one that is not): ids below it are
// handed out, never again.
func (b *builder) reserveProducerIDs(r *ProducerIDsRecord) error {
	if r.NextProducerID <= b.img.nextProducerID {
		return invalid("next producer id %d, not above %d", r.NextProducerID, b.img.nextProducerID)
	}
	b.img.nextProducerID = r.NextProducerID
	return nil
}

package broker

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"

	"runnel/io/disk"
	"runnel/io/flush"
	"runnel/segment"
)

// The topic registry. Topics and their partitions live in a copy-on-write
// table behind an atomic pointer: request handlers look up without locks,
// admin operations (under Broker.adminMu) build a new table and publish it.
//
// Topic metadata (name, id, partition count, config overrides) is kept in
// topics.json in the first log dir, written atomically. Each partition's
// directory also carries partition.metadata with the topic id, as Kafka's
// does. A creation (of a topic or of partitions) makes the partition dirs
// first and writes topics.json second; a deletion writes topics.json first
// and removes the dirs second. After a crash the file is the truth: partition
// dirs it does not name (or whose topic id differs: a topic deleted and
// created again) are deleted at startup, and partitions it names that no dir
// holds are created. A creation that fails midway (ENOSPC after some of its
// partitions) removes what it made before it answers: all or nothing.

// topicsFile is the name of the topic metadata file in the first log dir.
const topicsFile = "topics.json"

type topicTable struct {
	byName map[string]*topic
	byID   map[[16]byte]*topic
}

// topic is one topic. name and id never change; the partition list and the
// settings are swapped atomically by admin operations.
type topic struct {
	name     string
	id       [16]byte
	parts    atomic.Pointer[[]*partition]
	settings atomic.Pointer[topicSettings]
}

// partitions returns the topic's partitions, indexed by partition number.
// The slice is never modified; adding partitions swaps in a new one.
func (t *topic) partitions() []*partition {
	if p := t.parts.Load(); p != nil {
		return *p
	}
	return nil
}

// partition is one partition of a topic and its log.
type partition struct {
	topic   string
	topicID [16]byte
	index   int32
	log     *segment.Log
	flusher *flush.Flusher
	dir     *logDir
	t       *topic
	// cleanAt is when the topic flush loop last saw the log fully
	// flushed (unix nanoseconds); see topic_flush.go.
	cleanAt atomic.Int64
}

// config returns the topic's current settings (max.message.bytes,
// message.timestamp.type, flush.*, the segment.Config); never nil.
func (p *partition) config() *topicSettings { return p.t.settings.Load() }

// partition returns a partition by topic name, or UNKNOWN_TOPIC_OR_PARTITION.
func (b *Broker) partition(topic string, index int32) (*partition, error) {
	t := b.table.Load().byName[topic]
	if t == nil {
		return nil, kerr.UnknownTopicOrPartition
	}
	parts := t.partitions()
	if index < 0 || int(index) >= len(parts) {
		return nil, kerr.UnknownTopicOrPartition
	}
	return parts[index], nil
}

// onlinePartition is partition for the APIs that read a log's state: a
// partition whose log dir is offline answers KAFKA_STORAGE_ERROR (the dir's
// first failure), as Kafka does for an offline replica.
func (b *Broker) onlinePartition(topic string, index int32) (*partition, error) {
	p, err := b.partition(topic, index)
	if err == nil {
		err = p.dir.dir.Failed()
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// partitionByID returns a partition by topic id, or UNKNOWN_TOPIC_ID
// (UNKNOWN_TOPIC_OR_PARTITION for a partition index out of range).
func (b *Broker) partitionByID(id [16]byte, index int32) (*partition, error) {
	t := b.table.Load().byID[id]
	if t == nil {
		return nil, kerr.UnknownTopicID
	}
	parts := t.partitions()
	if index < 0 || int(index) >= len(parts) {
		return nil, kerr.UnknownTopicOrPartition
	}
	return parts[index], nil
}

// topic returns a topic by name, nil when unknown.
func (b *Broker) topic(name string) *topic { return b.table.Load().byName[name] }

// topicByID returns a topic by id, nil when unknown.
func (b *Broker) topicByID(id [16]byte) *topic { return b.table.Load().byID[id] }

// topicsSorted lists the topics by name.
func (b *Broker) topicsSorted() []*topic {
	tab := b.table.Load()
	out := make([]*topic, 0, len(tab.byName))
	for _, t := range tab.byName {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// validateTopicName applies Kafka's rules: 1..249 characters of
// [a-zA-Z0-9._-], not "." or "..".
func validateTopicName(name string) error {
	switch {
	case name == "":
		return kafkaErr(kerr.InvalidTopicException, "topic name is empty")
	case name == "." || name == "..":
		return kafkaErr(kerr.InvalidTopicException, "topic name cannot be %q", name)
	case len(name) > 249:
		return kafkaErr(kerr.InvalidTopicException, "topic name is longer than 249 characters")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return kafkaErr(kerr.InvalidTopicException, "topic name %q contains a character other than ASCII alphanumerics, '.', '_' and '-'", name)
		}
	}
	return nil
}

// maxFileNameBytes is the longest file name Linux file systems take (NAME_MAX).
const maxFileNameBytes = 255

// checkPartitionDirNames refuses a partition count whose last partition's directory,
// "<topic>-<partition>", would have a name too long for the file system: a topic of 249
// characters, the longest Kafka allows, fits 100,000 partitions.
func checkPartitionDirNames(topic string, count int32) error {
	last := segment.TopicPartition{Topic: topic, Partition: count - 1}.DirName()
	if len(last) > maxFileNameBytes {
		return kafkaErr(kerr.InvalidPartitions, "the directory of partition %d of a %d-character topic would have a name longer than %d bytes; use fewer partitions or a shorter topic name", count-1, len(topic), maxFileNameBytes)
	}
	return nil
}

// topicSpec is a topic to create.
type topicSpec struct {
	name       string
	partitions int32 // -1: num.partitions
	replicas   int16 // -1: default.replication.factor
	configs    map[string]string
}

// createTopic creates a topic, or only validates the request. The error is
// a kerr error wrapped with a message for the response.
func (b *Broker) createTopic(spec topicSpec, validateOnly bool) (*topic, error) {
	if err := validateTopicName(spec.name); err != nil {
		return nil, err
	}
	if spec.partitions == -1 {
		spec.partitions = b.cfg.NumPartitions
	}
	if spec.partitions < 1 || spec.partitions > b.cfg.MaxPartitions {
		return nil, kafkaErr(kerr.InvalidPartitions, "number of partitions must be 1..%d (runnel.max.partitions.per.topic), not %d", b.cfg.MaxPartitions, spec.partitions)
	}
	if err := checkPartitionDirNames(spec.name, spec.partitions); err != nil {
		return nil, err
	}
	if spec.replicas == -1 {
		spec.replicas = b.cfg.DefaultReplicationFactor
	}
	if spec.replicas != 1 {
		return nil, kafkaErr(kerr.InvalidReplicationFactor, "replication factor %d is larger than the 1 available broker", spec.replicas)
	}
	for k, v := range spec.configs {
		if err := checkTopicConfig(k, v); err != nil {
			return nil, kafkaErr(kerr.InvalidConfig, "%v", err)
		}
	}
	b.dropDeprecatedConfigs(spec.name, spec.configs)
	settings, err := resolveTopicSettings(b.cfg.TopicDefaults, spec.configs, b.cfg.PreallocateBytes)
	if err != nil {
		return nil, kafkaErr(kerr.InvalidConfig, "%v", err)
	}
	settings.overrides = spec.configs

	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	tab := b.table.Load()
	if tab.byName[spec.name] != nil {
		return nil, kafkaErr(kerr.TopicAlreadyExists, "topic %q already exists", spec.name)
	}
	if collides := b.collidingTopicLocked(spec.name); collides != "" {
		return nil, kafkaErr(kerr.InvalidTopicException, "topic %q collides with existing topic %q ('.' and '_' are interchangeable in metric names)", spec.name, collides)
	}
	if validateOnly {
		return nil, nil
	}
	t := &topic{name: spec.name, id: newUUID()}
	for tab.byID[t.id] != nil {
		t.id = newUUID()
	}
	t.settings.Store(settings)
	next := tab.with(t)
	parts, err := b.createPartitionsLocked(t, 0, spec.partitions)
	if err != nil {
		return nil, kafkaErr(kerr.KafkaStorageError, "%v", err)
	}
	if err := b.writeTopicsLocked(next, t, spec.partitions); err != nil {
		b.dropPartitionsLocked(parts)
		return nil, kafkaErr(kerr.KafkaStorageError, "%v", err)
	}
	t.parts.Store(&parts)
	b.table.Store(next)
	b.logger.Info("topic created", "topic", t.name, "id", topicIDString(t.id), "partitions", spec.partitions, "configs", spec.configs)
	return t, nil
}

// collidingTopicLocked returns an existing topic whose name differs from
// name only by '.' versus '_' (Kafka refuses those), or "".
func (b *Broker) collidingTopicLocked(name string) string {
	norm := func(s string) string {
		r := []byte(s)
		for i, c := range r {
			if c == '.' {
				r[i] = '_'
			}
		}
		return string(r)
	}
	n := norm(name)
	for other := range b.table.Load().byName {
		if other != name && norm(other) == n {
			return other
		}
	}
	return ""
}

// createPartitionsLocked creates partitions [from, to) of t and returns
// t's partition list extended by them. On error the partitions it created
// are deleted again.
func (b *Broker) createPartitionsLocked(t *topic, from, to int32) ([]*partition, error) {
	indexes := make([]int32, 0, to-from)
	for i := from; i < to; i++ {
		indexes = append(indexes, i)
	}
	created, err := b.createLogsLocked(t, indexes)
	if err != nil {
		return nil, err
	}
	return append(append([]*partition(nil), t.partitions()...), created...), nil
}

// creators bounds the partitions created at once. Creating one is a few
// fsyncs (its files, its directory, partition.metadata); concurrent ones
// share the filesystem's journal commits, which makes creating many
// partitions several times faster than one after the other.
const creators = 16

// createLogsLocked creates the logs of the given partitions of t, each
// with its partition.metadata, placing each in the log dir holding the
// fewest partitions. On error it deletes the ones it created.
func (b *Broker) createLogsLocked(t *topic, indexes []int32) ([]*partition, error) {
	dirs := make([]*logDir, len(indexes))
	for i := range indexes {
		dirs[i] = b.emptiestDirLocked()
		dirs[i].partitions++
	}
	cfg := t.settings.Load().log
	cfg.FS = b.cfg.FS
	created := make([]*partition, len(indexes))
	errs := make([]error, len(indexes))
	forEachParallel(len(indexes), creators, func(i int) {
		d, tp := dirs[i], segment.TopicPartition{Topic: t.name, Partition: indexes[i]}
		l, err := d.dir.Create(tp, cfg)
		if err == nil {
			created[i] = b.newPartition(t, indexes[i], l, d)
			err = segment.WritePartitionMetadata(partitionMetadataPath(d, tp), t.id)
		}
		if err != nil {
			errs[i] = fmt.Errorf("creating %s in %s: %w", tp.DirName(), d.path, err)
		}
	})
	failed, first := 0, error(nil)
	for _, err := range errs {
		if err != nil {
			failed++
			first = cmp.Or(first, err)
		}
	}
	if failed > 0 {
		for i, p := range created {
			if p == nil {
				dirs[i].partitions--
			}
		}
		b.dropPartitionsLocked(created)
		// One error, not one a partition: a disk that fills up fails thousands alike.
		return nil, fmt.Errorf("%d of %d partitions could not be created, none were kept; the first: %w", failed, len(indexes), first)
	}
	return created, nil
}

// dropPartitionsLocked removes the logs of parts (nil entries are skipped),
// several at once: each is a rename and a directory fsync, which concurrent
// deletions share as creations do.
func (b *Broker) dropPartitionsLocked(parts []*partition) {
	forEachParallel(len(parts), creators, func(i int) {
		if parts[i] != nil {
			b.deletePartitionLog(parts[i])
		}
	})
	for _, p := range parts {
		if p != nil {
			p.dir.partitions--
		}
	}
}

// forEachParallel calls f(0..n-1) from at most workers goroutines and
// waits for them.
func forEachParallel(n, workers int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, workers) {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

func partitionMetadataPath(d *logDir, tp segment.TopicPartition) string {
	return filepath.Join(d.path, tp.DirName(), "partition.metadata")
}

func (b *Broker) newPartition(t *topic, index int32, l *segment.Log, d *logDir) *partition {
	return &partition{topic: t.name, topicID: t.id, index: index, log: l, flusher: d.flusher, dir: d, t: t}
}

func (b *Broker) emptiestDirLocked() *logDir {
	best := b.dirs[0]
	for _, d := range b.dirs[1:] {
		// An online dir before an offline one (where Create fails), then the emptiest.
		online, bestOnline := d.dir.Failed() == nil, best.dir.Failed() == nil
		if (online && !bestOnline) || (online == bestOnline && d.partitions < best.partitions) {
			best = d
		}
	}
	return best
}

// deletePartitionLog removes a partition's log: waiters on its fsync get
// an error, then its directory goes. The caller counts it out of its dir.
func (b *Broker) deletePartitionLog(p *partition) {
	p.flusher.Forget(p.log)
	tp := segment.TopicPartition{Topic: p.topic, Partition: p.index}
	if err := p.dir.dir.Delete(tp); err != nil {
		b.logger.Error("deleting partition failed", "partition", tp.DirName(), "dir", p.dir.path, "err", err)
	}
}

// deleteTopic deletes a topic by name (or, when name is "", by id).
func (b *Broker) deleteTopic(name string, id [16]byte) (*topic, error) {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	tab := b.table.Load()
	t := tab.byName[name]
	if name == "" {
		t = tab.byID[id]
	}
	if t == nil {
		if name == "" {
			return nil, kerr.UnknownTopicID
		}
		return nil, kerr.UnknownTopicOrPartition
	}
	if isInternalTopic(t.name) {
		// The group coordinator keeps its state there (kafka-topics.sh
		// refuses this too).
		return nil, kafkaErr(kerr.InvalidTopicException, "internal topic %q cannot be deleted", t.name)
	}
	next := tab.without(t)
	if err := b.writeTopicsLocked(next, nil, 0); err != nil {
		return nil, kafkaErr(kerr.KafkaStorageError, "%v", err)
	}
	b.table.Store(next)
	b.dropPartitionsLocked(t.partitions())
	b.logger.Info("topic deleted", "topic", t.name, "id", topicIDString(t.id))
	return t, nil
}

// addPartitions grows a topic to count partitions.
func (b *Broker) addPartitions(name string, count int32, validateOnly bool) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	t := b.table.Load().byName[name]
	if t == nil {
		return kerr.UnknownTopicOrPartition
	}
	if isInternalTopic(name) {
		// Groups are placed by hashing over the partition count.
		return kafkaErr(kerr.InvalidPartitions, "the partition count of internal topic %q cannot change", name)
	}
	have := int32(len(t.partitions()))
	if count <= have {
		return kafkaErr(kerr.InvalidPartitions, "topic %q has %d partitions; the count can only grow", name, have)
	}
	if count > b.cfg.MaxPartitions {
		return kafkaErr(kerr.InvalidPartitions, "%d partitions is more than runnel.max.partitions.per.topic (%d)", count, b.cfg.MaxPartitions)
	}
	if err := checkPartitionDirNames(name, count); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	// The dirs first: a crash before the file names them deletes them at start.
	parts, err := b.createPartitionsLocked(t, have, count)
	if err != nil {
		return kafkaErr(kerr.KafkaStorageError, "%v", err)
	}
	if err := b.writeTopicsLocked(b.table.Load(), t, count); err != nil {
		b.dropPartitionsLocked(parts[have:])
		return kafkaErr(kerr.KafkaStorageError, "%v", err)
	}
	t.parts.Store(&parts)
	b.logger.Info("partitions added", "topic", name, "from", have, "to", count)
	return nil
}

// alterTopicConfig changes a topic's overrides: change gets a copy of the
// current ones and returns the new set (or a kerr error). The new set is
// validated, persisted and applied to the live logs; validateOnly stops
// after validation.
func (b *Broker) alterTopicConfig(name string, change func(overrides map[string]string) (map[string]string, error), validateOnly bool) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	t := b.table.Load().byName[name]
	if t == nil {
		if err := validateTopicName(name); err != nil {
			return err
		}
		return kafkaErr(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	old := t.settings.Load()
	current := make(map[string]string, len(old.overrides))
	for k, v := range old.overrides {
		current[k] = v
	}
	overrides, err := change(current)
	if err != nil {
		return err
	}
	for k, v := range overrides {
		if err := checkTopicConfig(k, v); err != nil {
			return kafkaErr(kerr.InvalidConfig, "%v", err)
		}
	}
	b.dropDeprecatedConfigs(name, overrides)
	settings, err := resolveTopicSettings(b.cfg.TopicDefaults, overrides, b.cfg.PreallocateBytes)
	if err != nil {
		return kafkaErr(kerr.InvalidConfig, "%v", err)
	}
	if len(overrides) == 0 {
		overrides = nil
	}
	settings.overrides = overrides
	if validateOnly {
		return nil
	}
	t.settings.Store(settings)
	if err := b.writeTopicsLocked(b.table.Load(), nil, 0); err != nil {
		t.settings.Store(old)
		b.logger.Error("persisting topic config failed", "topic", name, "err", err)
		return kafkaErr(kerr.KafkaStorageError, "%v", err)
	}
	for _, p := range t.partitions() {
		p.log.SetConfig(settings.log)
	}
	b.logger.Info("topic config changed", "topic", name, "overrides", overrides)
	return nil
}

func (tab *topicTable) with(t *topic) *topicTable {
	next := &topicTable{byName: make(map[string]*topic, len(tab.byName)+1), byID: make(map[[16]byte]*topic, len(tab.byID)+1)}
	for k, v := range tab.byName {
		next.byName[k] = v
	}
	for k, v := range tab.byID {
		next.byID[k] = v
	}
	next.byName[t.name] = t
	next.byID[t.id] = t
	return next
}

func (tab *topicTable) without(t *topic) *topicTable {
	next := &topicTable{byName: make(map[string]*topic, len(tab.byName)), byID: make(map[[16]byte]*topic, len(tab.byID))}
	for k, v := range tab.byName {
		if v != t {
			next.byName[k] = v
		}
	}
	for k, v := range tab.byID {
		if v != t {
			next.byID[k] = v
		}
	}
	return next
}

// topicRecord is a topic in topics.json.
type topicRecord struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

type topicsDoc struct {
	Version int           `json:"version"`
	Topics  []topicRecord `json:"topics"`
}

// topicsPath is where topics.json is written: the first log dir.
func (b *Broker) topicsPath() string { return filepath.Join(b.cfg.LogDirs[0], topicsFile) }

// writeTopicsLocked writes tab to topics.json, atomically; when grow is
// not nil, its partition count is written as count (a topic being created
// or grown, whose new partitions are not published until the file names
// them).
func (b *Broker) writeTopicsLocked(tab *topicTable, grow *topic, count int32) error {
	doc := topicsDoc{Version: 1, Topics: []topicRecord{}}
	for _, t := range tab.byName {
		n := int32(len(t.partitions()))
		if t == grow {
			n = count
		}
		doc.Topics = append(doc.Topics, topicRecord{Name: t.name, ID: topicIDString(t.id), Partitions: n, Configs: t.settings.Load().overrides})
	}
	sort.Slice(doc.Topics, func(i, j int) bool { return doc.Topics[i].Name < doc.Topics[j].Name })
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return disk.WriteFileAtomic(b.topicsPath(), append(data, '\n'), 0o644)
}

// readTopicsDoc reads topics.json from the first log dir that has one
// (log.dirs may have been reordered since it was written); path is where
// it was found, ok is false when no log dir has one.
func (b *Broker) readTopicsDoc() (doc topicsDoc, path string, ok bool, err error) {
	for _, dir := range b.cfg.LogDirs {
		path = filepath.Join(dir, topicsFile)
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return doc, path, false, fmt.Errorf("broker: %w", err)
		}
		// Starting without the file would adopt the partitions with default
		// configs: a topic kept for ever would get 7 days of retention.
		const what = "restore it from a backup, or move it away to adopt the partitions found with the default topic configs (their overrides are lost)"
		if err := json.Unmarshal(data, &doc); err != nil {
			return doc, path, false, fmt.Errorf("broker: %s: %w; %s", path, err, what)
		}
		if doc.Version != 1 {
			return doc, path, false, fmt.Errorf("broker: %s: unsupported version %d; %s", path, doc.Version, what)
		}
		return doc, path, true, nil
	}
	return doc, "", false, nil
}

// topicIDString formats a topic id as Kafka does (base64url, no padding).
func topicIDString(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

func parseTopicID(s string) ([16]byte, error) {
	var id [16]byte
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("bad topic id %q", s)
	}
	copy(id[:], b)
	return id, nil
}

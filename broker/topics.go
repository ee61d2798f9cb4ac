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
	"slices"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"

	"runnel/broker/replica"
	"runnel/io/flush"
	"runnel/segment"
)

// The topic table. Topics and the partitions this broker holds live in a
// copy-on-write table behind an atomic pointer: request handlers look up
// without locks; the goroutine applying metadata images (cluster_follow.go,
// under Broker.adminMu) builds a new table and publishes it. The metadata
// image is the truth: the table holds a topic for each of its topics and,
// per topic, the partitions whose replicas name this node. Each partition's
// directory carries partition.metadata with the topic id, as Kafka's does.
// A partition's logs are created (all or nothing per image) when an image
// assigns it here, and deleted when one no longer does.
//
// topics.json, single-node Runnel's topic registry before the metadata log,
// is read once to import its topics (cluster_import.go).

// topicsFile is single-node Runnel's topic registry, in the first log dir.
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

// partitions returns the topic's partitions held by this broker, by
// partition number. The slice is never modified; a change swaps in a new
// one.
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

	// Replication (replication.go), set under Broker.adminMu as images
	// are applied. replicated: the image gives the partition more than
	// one replica, so consumers read up to the log's high watermark.
	// leader: this node's leadership of it (nil: not led here, or one
	// replica). followed: the leader this node follows it from.
	// singleReplica: the last image applied gave it one replica.
	replicated    atomic.Bool
	leader        atomic.Pointer[replica.Leader]
	followed      followed
	singleReplica bool
}

// config returns the topic's current settings (max.message.bytes,
// message.timestamp.type, flush.*, the segment.Config); never nil.
func (p *partition) config() *topicSettings { return p.t.settings.Load() }

// partition returns a partition by topic name, or UNKNOWN_TOPIC_OR_PARTITION.
func (b *Broker) partition(topic string, index int32) (*partition, error) {
	return b.table.Load().partition(topic, index)
}

// partition returns a partition of the table by topic name, or
// UNKNOWN_TOPIC_OR_PARTITION.
func (tab *topicTable) partition(topic string, index int32) (*partition, error) {
	t := tab.byName[topic]
	if t == nil {
		return nil, kerr.UnknownTopicOrPartition
	}
	if p := t.partitionAt(index); p != nil {
		return p, nil
	}
	return nil, kerr.UnknownTopicOrPartition
}

// partitionAt returns the topic's partition index when this broker holds
// it, nil otherwise.
func (t *topic) partitionAt(index int32) *partition {
	parts := t.partitions()
	if index >= 0 && int(index) < len(parts) && parts[index].index == index { // every partition held here
		return parts[index]
	}
	i, ok := slices.BinarySearchFunc(parts, index, func(p *partition, index int32) int { return cmp.Compare(p.index, index) })
	if !ok {
		return nil
	}
	return parts[i]
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
	if p := t.partitionAt(index); p != nil {
		return p, nil
	}
	return nil, kerr.UnknownTopicOrPartition
}

// topic returns a topic by name, nil when unknown.
func (b *Broker) topic(name string) *topic { return b.table.Load().byName[name] }

// topicByID returns a topic by id, nil when unknown.
func (b *Broker) topicByID(id [16]byte) *topic { return b.table.Load().byID[id] }

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
	for _, p := range parts {
		if p != nil {
			b.resign(p)
			b.unfollowLocked(p)
		}
	}
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
	return &partition{topic: t.name, topicID: t.id, index: index, log: l, flusher: d.flusher, dir: d, t: t, followed: notFollowed}
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

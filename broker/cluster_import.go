package broker

// Upgrading in place. Single-node Runnel kept its topics in topics.json (name,
// id, partition count, config overrides) in the first log dir. On the first
// start with the metadata log, once this node's quorum is active, its topics
// are imported into the log as one entry: the same ids, partition counts and
// configs, every partition's replicas, ISR and leader this node. topics.json
// is then renamed topics.json.imported (kept, never read again) and one log
// line says what was imported. A crash between the entry and the rename
// imports nothing twice: topics the image already holds (by id) are skipped.
// A data dir without topics.json but with partition directories (from
// elsewhere) has its partitions adopted the same way, ids taken from their
// partition.metadata, while the metadata log holds no topic.

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"runnel/broker/metadata"
	"runnel/broker/quorum"
	"runnel/segment"
)

// importedSuffix is added to topics.json's name once it is imported.
const importedSuffix = ".imported"

// importTopics imports topics.json (or adopts the partition dirs found) into
// the metadata log through the local active controller, and returns the
// image and offset after it.
func (b *Broker) importTopics(img *metadata.Image, offset int64) (*metadata.Image, int64, error) {
	lq := b.quorum
	if lq == nil || !lq.ctrl.Active() {
		return img, offset, nil // the active controller's node imports its own
	}
	doc, path, haveDoc, err := b.readTopicsDoc()
	if err != nil {
		return nil, 0, err
	}
	var records []metadata.Record
	var names []string
	switch {
	case haveDoc:
		for _, rec := range doc.Topics {
			id, err := parseTopicID(rec.ID)
			if err != nil {
				return nil, 0, fmt.Errorf("broker: %s: topic %q: %w", path, rec.Name, err)
			}
			if _, ok := img.TopicByID(id); ok {
				continue
			}
			records = append(records, b.topicRecords(id, rec.Name, rec.Partitions, rec.Configs)...)
			names = append(names, rec.Name)
		}
	case img.NumTopics() == 0:
		found, err := b.partitionDirsFound()
		if err != nil {
			return nil, 0, err
		}
		for _, name := range slices.Sorted(maps.Keys(found)) {
			f := found[name]
			b.logger.Warn("adopting partitions found without topics.json", "topic", name, "partitions", f.count)
			records = append(records, b.topicRecords(f.id, name, f.count, nil)...)
			names = append(names, name)
		}
	}
	if len(records) > 0 {
		ctx, cancel := b.adminContext(0)
		err := lq.ctrl.Import(ctx, records)
		cancel()
		if err != nil {
			return nil, 0, fmt.Errorf("broker: importing the topics of %s into the metadata log: %w", cmp.Or(path, "the log dirs"), err)
		}
		b.logger.Info("imported single-node topics into the metadata log", "from", cmp.Or(path, "the partition directories"), "topics", len(names), "names", names)
	}
	if haveDoc {
		if err := os.Rename(path, path+importedSuffix); err != nil {
			return nil, 0, fmt.Errorf("broker: %w", err)
		}
	}
	return lq.ctrl.Image(), lq.ctrl.AppliedOffset(), nil
}

// topicRecords are the records of a single-node topic: every partition on
// this node.
func (b *Broker) topicRecords(id [16]byte, name string, partitions int32, configs map[string]string) []metadata.Record {
	records := []metadata.Record{&metadata.TopicRecord{TopicID: id, Name: name}}
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		records = append(records, &metadata.ConfigRecord{ResourceType: metadata.ResourceTopic, ResourceName: name, Name: k, Value: configs[k]})
	}
	node := []int32{b.cfg.NodeID}
	for p := range partitions {
		records = append(records, &metadata.PartitionRecord{TopicID: id, Partition: p, Replicas: node, ISR: node, Leader: b.cfg.NodeID})
	}
	return records
}

// foundTopic is a topic adopted from its partition directories.
type foundTopic struct {
	id    [16]byte
	count int32
}

// partitionDirsFound lists the topics whose partition directories the log
// dirs hold: the id of the first partition.metadata read (or a new one),
// the count one above the highest partition.
func (b *Broker) partitionDirsFound() (map[string]*foundTopic, error) {
	found := map[string]*foundTopic{}
	for _, dir := range b.cfg.LogDirs {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("broker: %w", err)
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, e := range entries {
			tp, ok := segment.ParsePartitionDir(e.Name())
			if !ok || !e.IsDir() || tp == quorum.Partition {
				continue
			}
			f := found[tp.Topic]
			if f == nil {
				f = &foundTopic{}
				found[tp.Topic] = f
			}
			f.count = max(f.count, tp.Partition+1)
			if f.id == ([16]byte{}) {
				if id, err := segment.ReadPartitionMetadata(filepath.Join(dir, e.Name(), "partition.metadata")); err == nil {
					f.id = id
				}
			}
		}
	}
	taken := map[[16]byte]bool{}
	for _, name := range slices.Sorted(maps.Keys(found)) {
		f := found[name]
		for f.id == ([16]byte{}) || taken[f.id] {
			f.id = newUUID()
		}
		taken[f.id] = true
	}
	return found, nil
}

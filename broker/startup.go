package broker

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"

	"runnel/io/flush"
	"runnel/segment"
)

// openLogs loads topics.json, opens every log dir (recovering its logs) and
// reconciles the two: partition dirs that topics.json does not name, or
// whose partition.metadata names another topic id, are left over from a
// deletion and are deleted; partitions it names that no dir holds are
// created. Without topics.json (first start, or a data dir from elsewhere)
// the partitions found are adopted as they are.
func (b *Broker) openLogs() error {
	// Nothing else runs yet; the lock is for createLogsLocked and
	// writeTopicsLocked, which change topics as admin requests do.
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	doc, docPath, haveDoc, err := b.readTopicsDoc()
	if err != nil {
		return err
	}
	st, err := b.loadTopics(doc, docPath, haveDoc)
	if err != nil {
		return err
	}
	if err := b.openLogDirs(st); err != nil {
		return err
	}
	for _, d := range b.dirs {
		for _, tp := range sortedPartitions(d.dir.Logs()) {
			if err := b.reconcilePartition(st, d, tp); err != nil {
				return err
			}
		}
	}
	tab, err := b.buildTopicTable(st)
	if err != nil {
		return err
	}
	if err := b.storeTopicsDoc(tab, docPath, haveDoc); err != nil {
		return err
	}
	b.table.Store(tab)
	return nil
}

// startupTopics is what openLogs knows of the topics while it reconciles
// topics.json with the log dirs.
type startupTopics struct {
	haveDoc  bool                            // topics.json was found
	defaults *topicSettings                  // for topics without overrides
	byName   map[string]*topic               // topics.json's, then those adopted
	want     map[*topic]int32                // partition counts
	found    map[*topic]map[int32]*partition // the partitions the log dirs hold
}

// loadTopics resolves the topics of doc (read from docPath) and their
// settings.
func (b *Broker) loadTopics(doc topicsDoc, docPath string, haveDoc bool) (*startupTopics, error) {
	defaults, err := resolveTopicSettings(b.cfg.TopicDefaults, nil, b.cfg.PreallocateBytes)
	if err != nil {
		return nil, fmt.Errorf("broker: topic defaults: %w", err)
	}
	st := &startupTopics{haveDoc: haveDoc, defaults: defaults, byName: map[string]*topic{}, want: map[*topic]int32{}, found: map[*topic]map[int32]*partition{}}
	for _, rec := range doc.Topics {
		id, err := parseTopicID(rec.ID)
		if err != nil {
			return nil, fmt.Errorf("broker: %s: topic %q: %w", docPath, rec.Name, err)
		}
		settings, err := resolveTopicSettings(b.cfg.TopicDefaults, rec.Configs, b.cfg.PreallocateBytes)
		if err != nil {
			return nil, fmt.Errorf("broker: %s: topic %q: %w", docPath, rec.Name, err)
		}
		settings.overrides = rec.Configs
		t := &topic{name: rec.Name, id: id}
		t.settings.Store(settings)
		st.byName[rec.Name] = t
		st.want[t] = rec.Partitions
	}
	return st, nil
}

// openLogDirs opens every log dir, recovering its logs with each topic's
// settings, and starts its flusher.
func (b *Broker) openLogDirs(st *startupTopics) error {
	cfgFor := func(name string) segment.Config {
		cfg := st.defaults.log
		if t := st.byName[name]; t != nil {
			cfg = t.settings.Load().log
		}
		cfg.FS = b.cfg.FS
		return cfg
	}
	for _, path := range b.cfg.LogDirs {
		d := &logDir{path: path}
		var err error
		d.dir, err = segment.OpenLogDir(path, cfgFor, b.logger.With("dir", path), segment.WithScan(b.cfg.LogRecoveryScan),
			segment.WithPrefaultTotal(b.cfg.PrefaultTotalBytes))
		if err != nil {
			return fmt.Errorf("broker: opening log dir %s: %w", path, err)
		}
		d.flusher = flush.New(flush.Config{
			Policy:        b.cfg.FlushPolicy,
			MinInterval:   b.cfg.FlushMinInterval,
			FlushMessages: st.defaults.flushMessages,
			FlushInterval: st.defaults.flushInterval,
			Logger:        b.logger.With("flusher", path),
			OnSync:        b.metrics.onSync,
			Retriable:     func(err error) bool { return errors.Is(err, segment.ErrNoSpace) },
		})
		b.dirs = append(b.dirs, d)
	}
	return nil
}

// reconcilePartition takes the partition tp found in d into st: it is
// adopted (no topics.json), deleted (a stray of a deleted topic, or beyond
// its topic's partition count) or kept, its partition.metadata written
// again if missing or unreadable.
func (b *Broker) reconcilePartition(st *startupTopics, d *logDir, tp segment.TopicPartition) error {
	mdPath := partitionMetadataPath(d, tp)
	id, mdErr := segment.ReadPartitionMetadata(mdPath)
	if errors.Is(mdErr, segment.ErrMalformedCheckpoint) {
		// Taken as missing: the topic id is in topics.json, and the
		// file is written again below.
		b.logger.Warn("partition.metadata unreadable; writing it again", "partition", tp.DirName(), "dir", d.path, "err", mdErr)
	} else if mdErr != nil && !errors.Is(mdErr, fs.ErrNotExist) {
		return fmt.Errorf("broker: %w", mdErr)
	}
	t := st.byName[tp.Topic]
	if t == nil && !st.haveDoc {
		t = &topic{name: tp.Topic, id: id}
		if mdErr != nil {
			t.id = newUUID()
		}
		t.settings.Store(st.defaults)
		st.byName[tp.Topic] = t
		b.logger.Warn("adopting partition found without topics.json", "partition", tp.DirName(), "dir", d.path)
	}
	stray := t == nil || (mdErr == nil && id != t.id) || (st.haveDoc && tp.Partition >= st.want[t])
	if stray {
		b.logger.Warn("deleting partition of a deleted topic", "partition", tp.DirName(), "dir", d.path)
		if err := d.dir.Delete(tp); err != nil {
			return fmt.Errorf("broker: deleting stray partition %s: %w", tp.DirName(), err)
		}
		return nil
	}
	if mdErr != nil {
		if err := segment.WritePartitionMetadata(mdPath, t.id); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
	}
	if st.found[t] == nil {
		st.found[t] = map[int32]*partition{}
	}
	if other := st.found[t][tp.Partition]; other != nil {
		return fmt.Errorf("broker: partition %s is in two log dirs, %s and %s; remove one", tp.DirName(), other.dir.path, d.path)
	}
	st.found[t][tp.Partition] = b.newPartition(t, tp.Partition, d.dir.Logs()[tp], d)
	d.partitions++
	if !st.haveDoc && tp.Partition >= st.want[t] {
		st.want[t] = tp.Partition + 1
	}
	return nil
}

// buildTopicTable builds the topic table from st, creating the partitions that
// no log dir holds.
func (b *Broker) buildTopicTable(st *startupTopics) (*topicTable, error) {
	tab := &topicTable{byName: map[string]*topic{}, byID: map[[16]byte]*topic{}}
	for _, t := range st.byName {
		if other := tab.byID[t.id]; other != nil {
			return nil, fmt.Errorf("broker: topics %q and %q have the same id %s", t.name, other.name, topicIDString(t.id))
		}
		parts := make([]*partition, st.want[t])
		var missing []int32
		for i := range parts {
			if parts[i] = st.found[t][int32(i)]; parts[i] == nil {
				missing = append(missing, int32(i))
			}
		}
		if len(missing) > 0 {
			b.logger.Warn("creating partitions missing from the log dirs", "topic", t.name, "partitions", missing)
			created, err := b.createLogsLocked(t, missing)
			if err != nil {
				return nil, fmt.Errorf("broker: %w", err)
			}
			for _, p := range created {
				parts[p.index] = p
			}
		}
		t.parts.Store(&parts)
		tab.byName[t.name], tab.byID[t.id] = t, t
	}
	return tab, nil
}

// storeTopicsDoc writes topics.json for tab when there was none or it was
// read from docPath other than the first log dir (log.dirs reordered), and
// then removes the old one.
func (b *Broker) storeTopicsDoc(tab *topicTable, docPath string, haveDoc bool) error {
	if !haveDoc || docPath != b.topicsPath() {
		if err := b.writeTopicsLocked(tab, nil, 0); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
	}
	if haveDoc && docPath != b.topicsPath() {
		b.logger.Warn("moved topics.json to the first log dir", "from", docPath, "to", b.topicsPath())
		if err := os.Remove(docPath); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
	}
	return nil
}

func sortedPartitions(m map[segment.TopicPartition]*segment.Log) []segment.TopicPartition {
	out := make([]segment.TopicPartition, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

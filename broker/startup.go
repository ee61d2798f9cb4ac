package broker

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"sync"

	"runnel/broker/metadata"
	"runnel/broker/quorum"
	"runnel/io/flush"
	"runnel/segment"
)

// openLogs opens every log dir (recovering its logs) and reconciles them
// with img, the caught-up metadata image at offset: partition dirs of topics
// img lacks, whose partition.metadata names another topic id (a topic
// deleted and created again) or that img does not assign to this node are
// left over and deleted; partitions it assigns here that no dir holds are
// created. The broker then serves img.
func (b *Broker) openLogs(img *metadata.Image, offset int64) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	defaults, err := b.cfg.topicSettings(nil)
	if err != nil {
		return fmt.Errorf("broker: topic defaults: %w", err)
	}
	var mu sync.Mutex                       // settingsOf is called by the log dirs' parallel opens
	settings := map[string]*topicSettings{} // of the topics found in the dirs
	settingsOf := func(name string) *topicSettings {
		mu.Lock()
		defer mu.Unlock()
		if s := settings[name]; s != nil {
			return s
		}
		s := defaults
		if overrides := topicOverrides(img, name); overrides != nil {
			resolved, err := b.cfg.topicSettings(overrides)
			if err != nil { // the controller checked every value with the broker's rules
				b.logger.Error("topic configs from the metadata log do not resolve; using the defaults", "topic", name, "err", err)
			} else {
				resolved.overrides = overrides
				s = resolved
			}
		}
		settings[name] = s
		return s
	}
	if err := b.openLogDirs(defaults, func(name string) segment.Config { return settingsOf(name).log }); err != nil {
		return err
	}
	tab := &topicTable{byName: map[string]*topic{}, byID: map[[16]byte]*topic{}}
	for _, d := range b.dirs {
		logs := d.dir.Logs() // once: a copy per partition made 10,000 of them O(n²)
		for _, tp := range sortedPartitions(logs) {
			if err := b.reconcilePartition(img, tab, settingsOf, d, tp, logs[tp]); err != nil {
				return err
			}
		}
	}
	b.table.Store(tab)
	b.applyImageLocked(new(metadata.Image), img)
	b.meta.Publish(img)
	b.follower.mu.Lock()
	b.follower.applied = offset
	b.follower.mu.Unlock()
	return nil
}

// openLogDirs opens every log dir but the metadata log, recovering its logs
// with each topic's settings, and starts its flusher.
func (b *Broker) openLogDirs(defaults *topicSettings, cfgFor func(topic string) segment.Config) error {
	for _, path := range b.cfg.LogDirs {
		d := &logDir{path: path}
		var err error
		d.dir, err = segment.OpenLogDir(path, func(topic string) segment.Config {
			cfg := cfgFor(topic)
			cfg.FS = b.cfg.FS
			return cfg
		}, b.logger.With("dir", path), segment.WithScan(b.cfg.LogRecoveryScan), segment.WithFS(b.cfg.FS),
			segment.WithoutPartitions(quorum.Partition))
		if err != nil {
			return fmt.Errorf("broker: opening log dir %s: %w", path, err)
		}
		fcfg := flush.Config{
			Policy:        b.cfg.FlushPolicy,
			MinInterval:   b.cfg.FlushMinInterval,
			SoonDelay:     b.cfg.FlushMaxDelay,
			FlushMessages: defaults.flushMessages,
			FlushInterval: defaults.flushInterval,
			Logger:        b.logger.With("flusher", path),
			OnSync:        b.metrics.onSync,
			Retriable:     func(err error) bool { return errors.Is(err, segment.ErrNoSpace) },
		}
		if b.cfg.FlushSyncFSMinLogs > 0 && d.dir.SyncAllReportsErrors() {
			fcfg.SyncAll, fcfg.GroupMin = d.dir.SyncAll, int(b.cfg.FlushSyncFSMinLogs)
		}
		d.flusher = flush.New(fcfg)
		b.dirs = append(b.dirs, d)
	}
	return nil
}

// reconcilePartition takes the partition tp found in d (its log) into tab when img
// assigns it to this node (its partition.metadata written again if missing
// or unreadable), and otherwise sets it aside as stray (LogDir.MarkStray),
// keeping its files, as Kafka does.
func (b *Broker) reconcilePartition(img *metadata.Image, tab *topicTable, settingsOf func(string) *topicSettings, d *logDir, tp segment.TopicPartition, log *segment.Log) error {
	mdPath := partitionMetadataPath(d, tp)
	id, mdErr := segment.ReadPartitionMetadata(mdPath)
	if errors.Is(mdErr, segment.ErrMalformedCheckpoint) {
		// Taken as missing: the topic id is in the metadata image, and the
		// file is written again below.
		b.logger.Warn("partition.metadata unreadable; writing it again", "partition", tp.DirName(), "dir", d.path, "err", mdErr)
	} else if mdErr != nil && !errors.Is(mdErr, fs.ErrNotExist) {
		return fmt.Errorf("broker: %w", mdErr)
	}
	mt, ok := img.Topic(tp.Topic)
	var assigned bool
	if ok {
		mp, found := mt.Partition(tp.Partition)
		assigned = found && slices.Contains(mp.Replicas, b.cfg.NodeID)
	}
	if !ok || (mdErr == nil && id != mt.ID()) || !assigned {
		aside, err := d.dir.MarkStray(tp)
		if err != nil {
			return fmt.Errorf("broker: setting aside stray partition %s: %w", tp.DirName(), err)
		}
		b.logger.Warn("partition not assigned to this broker (a topic deleted or recreated, or a replica moved, while it was away): kept aside, not served; delete the directory once it is not needed",
			"partition", tp.DirName(), "moved_to", aside)
		return nil
	}
	if mdErr != nil {
		if err := segment.WritePartitionMetadata(mdPath, mt.ID()); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
	}
	t := tab.byName[tp.Topic]
	if t == nil {
		t = &topic{name: tp.Topic, id: mt.ID()}
		t.settings.Store(settingsOf(tp.Topic))
		t.parts.Store(&[]*partition{})
		tab.byName[t.name], tab.byID[t.id] = t, t
	}
	if other := t.partitionAt(tp.Partition); other != nil {
		return fmt.Errorf("broker: partition %s is in two log dirs, %s and %s; remove one", tp.DirName(), other.dir.path, d.path)
	}
	parts := append(t.partitions(), b.newPartition(t, tp.Partition, log, d))
	slices.SortFunc(parts, func(x, y *partition) int { return int(x.index - y.index) })
	t.parts.Store(&parts)
	d.partitions++
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

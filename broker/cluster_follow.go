package broker

import (
	"maps"
	"slices"
	"sync"

	"runnel/broker/metadata"
)

// imageFollower hands committed images to the goroutine that applies them
// (followImages) and tells waiters how far it got.
type imageFollower struct {
	mu sync.Mutex
	// next is the newest image handed in and not yet taken, with its offset.
	next       *metadata.Image
	nextOffset int64
	wake       chan struct{} // one token: next changed
	// applied is the metadata offset of the image b.meta holds; advanced
	// closes and replaces when it moves.
	applied  int64
	advanced chan struct{}
}

func (f *imageFollower) init() {
	f.wake = make(chan struct{}, 1)
	f.advanced = make(chan struct{})
	f.applied = -1
}

// ImageCommitted hands the broker the image the committed metadata log has
// built up to offset (the metadata offset of its last entry). It never
// blocks: the broker applies the newest image it was handed, so one that a
// later one overtakes is skipped. Images must come in log order.
func (b *Broker) ImageCommitted(img *metadata.Image, offset int64) {
	f := &b.follower
	f.mu.Lock()
	f.next, f.nextOffset = img, offset
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// appliedSince returns the offset applied and a channel closed when it moves.
func (f *imageFollower) appliedSince() (<-chan struct{}, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.advanced, f.applied
}

// take returns the newest image handed in, nil when there is none new.
func (f *imageFollower) take() (*metadata.Image, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	img, offset := f.next, f.nextOffset
	f.next = nil
	return img, offset
}

// AppliedOffset is the metadata offset of the image this broker serves
// (-1 before any): what its heartbeats report as CurrentMetadataOffset.
func (b *Broker) AppliedOffset() int64 {
	_, applied := b.follower.appliedSince()
	return applied
}

// followImages applies each new image until Close.
func (b *Broker) followImages() {
	defer b.bg.Done()
	for {
		select {
		case <-b.done:
			return
		case <-b.follower.wake:
		}
		if img, offset := b.follower.take(); img != nil {
			b.applyImage(img, offset)
		}
	}
}

// applyImage brings the local state to next (at metadata offset), publishes
// it and tells the group coordinator.
func (b *Broker) applyImage(next *metadata.Image, offset int64) {
	b.adminMu.Lock()
	prev := b.image()
	b.applyImageLocked(prev, next)
	b.meta.Publish(next)
	groups := b.groups
	b.adminMu.Unlock()
	f := &b.follower
	f.mu.Lock()
	if offset > f.applied {
		f.applied = offset
		close(f.advanced)
		f.advanced = make(chan struct{})
	}
	f.mu.Unlock()
	b.groupsFollow(groups, prev, next)
}

// sameOverrides reports whether a topic's config overrides in img are
// overrides, without building a map.
func sameOverrides(img *metadata.Image, name string, overrides map[string]string) bool {
	n := 0
	for k, v := range img.Configs(metadata.ConfigResource{Type: metadata.ResourceTopic, Name: name}) {
		if w, ok := overrides[k]; !ok || w != v {
			return false
		}
		n++
	}
	return n == len(overrides)
}

// topicOverrides are a topic's config overrides in img (nil: none).
func topicOverrides(img *metadata.Image, name string) map[string]string {
	m := maps.Collect(img.Configs(metadata.ConfigResource{Type: metadata.ResourceTopic, Name: name}))
	if len(m) == 0 {
		return nil
	}
	return m
}

// applyImageLocked makes the topic table and the logs what next says for
// this node: a topic for each of next's, holding the partitions whose
// replicas name this node (their logs created when missing), with next's
// configs; the logs of topics next lacks, and of partitions no longer
// assigned here, deleted. A log that cannot be created is logged and tried
// again with the next image. prev is the image applied before: a topic it
// shares with next (the same *metadata.Topic, copy-on-write) has the same
// partitions, so only its configs are compared. Each local partition of the
// other topics becomes leader or follower as next says (replicateLocked).
func (b *Broker) applyImageLocked(prev, next *metadata.Image) {
	tab := b.table.Load()
	out := &topicTable{byName: make(map[string]*topic, next.NumTopics()), byID: make(map[[16]byte]*topic, next.NumTopics())}
	var drop []*partition
	node := b.cfg.NodeID
	for mt := range next.Topics() {
		t := tab.byID[mt.ID()]
		if t != nil && t.name != mt.Name() {
			t = nil // cannot happen (ids are not reused), but a name is part of a log's path
		}
		if t == nil {
			t = &topic{name: mt.Name(), id: mt.ID()}
		}
		if old := t.settings.Load(); old == nil || !sameOverrides(next, t.name, old.overrides) {
			overrides := topicOverrides(next, mt.Name())
			settings, err := b.cfg.topicSettings(overrides)
			if err != nil { // the controller checked every value with the broker's rules
				b.logger.Error("topic configs from the metadata log do not resolve; keeping the defaults", "topic", t.name, "err", err)
				settings, _ = b.cfg.topicSettings(nil)
			}
			settings.overrides = overrides
			t.settings.Store(settings)
			for _, p := range t.partitions() {
				p.log.SetConfig(settings.log)
			}
			if old != nil {
				b.logger.Info("topic config changed", "topic", t.name, "overrides", overrides)
			}
		}
		if before, ok := prev.TopicByID(mt.ID()); ok && before == mt && b.createFailed[t.id] == nil && tab.byID[t.id] == t {
			out.byName[t.name], out.byID[t.id] = t, t
			continue
		}
		have := t.partitions()
		var keep []*partition
		var missing []int32
		for mp := range mt.Partitions() {
			if !slices.Contains(mp.Replicas, node) {
				continue
			}
			if p := t.partitionAt(mp.Partition); p != nil {
				keep = append(keep, p)
			} else {
				missing = append(missing, mp.Partition)
			}
		}
		for _, p := range have {
			if !slices.Contains(keep, p) {
				drop = append(drop, p) // reassigned away
			}
		}
		if len(missing) > 0 {
			created, err := b.createLogsLocked(t, missing)
			if err != nil {
				b.logger.Error("creating partitions assigned to this broker failed; retrying with the next metadata change", "topic", t.name, "err", err)
				b.createFailed[t.id] = err
			} else {
				delete(b.createFailed, t.id)
				keep = append(keep, created...)
				if len(have) == 0 {
					b.logger.Info("topic created", "topic", t.name, "id", topicIDString(t.id), "partitions", len(created), "configs", t.settings.Load().overrides)
				} else {
					b.logger.Info("partitions added", "topic", t.name, "partitions", missing)
				}
			}
		}
		if len(missing) > 0 || len(keep) != len(have) {
			slices.SortFunc(keep, func(x, y *partition) int { return int(x.index - y.index) })
			t.parts.Store(&keep)
		}
		var changes roleChanges
		for _, p := range keep {
			if mp, ok := mt.Partition(p.index); ok {
				b.replicateLocked(p, mp, &changes)
			}
		}
		changes.log(b.logger, t.name)
		out.byName[t.name], out.byID[t.id] = t, t
	}
	for id, t := range tab.byID {
		if out.byID[id] == nil {
			drop = append(drop, t.partitions()...)
			delete(b.createFailed, id)
			b.logger.Info("topic deleted", "topic", t.name, "id", topicIDString(t.id))
		}
	}
	b.table.Store(out)
	b.dropPartitionsLocked(drop)
}

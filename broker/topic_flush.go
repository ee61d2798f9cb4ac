package broker

import (
	"time"
)

// Topic-level flush.messages and flush.ms under the interval flush policy.
//
// A log dir's flusher runs with the broker-wide log.flush.interval.messages
// and log.flush.interval.ms. A topic that overrides flush.messages or
// flush.ms is watched by this loop instead: every topicFlushTick it asks the
// flusher to sync a partition that has at least flush.messages unflushed
// offsets, or that has not been fully flushed for flush.ms. So the topic
// values hold to within a tick. (Under the durable policy every produce
// asks for a flush anyway, and the loop does not run.)

// topicFlushTick is the loop's period, and so the granularity of a topic's
// flush.ms.
const topicFlushTick = 100 * time.Millisecond

func (b *Broker) applyTopicFlushSettings() {
	now := time.Now()
	for _, t := range b.table.Load().byName {
		s := t.settings.Load()
		_, byCount := s.overrides["flush.messages"]
		_, byTime := s.overrides["flush.ms"]
		if !byCount && !byTime {
			continue
		}
		for _, p := range t.partitions() {
			end, flushed := p.log.EndOffset(), p.log.FlushedOffset()
			if end <= flushed || p.cleanAt.Load() == 0 {
				p.cleanAt.Store(now.UnixNano())
				if end <= flushed {
					continue
				}
			}
			dirtyFor := now.Sub(time.Unix(0, p.cleanAt.Load()))
			if (s.flushMessages > 0 && end-flushed >= s.flushMessages) || (s.flushInterval > 0 && dirtyFor >= s.flushInterval) {
				p.flusher.Wait(p.log, end, func(error) {}) // a failed sync is logged by the flusher
				p.cleanAt.Store(now.UnixNano())
			}
		}
	}
}

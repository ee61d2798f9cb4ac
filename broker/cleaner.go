package broker

import (
	"github.com/prometheus/client_golang/prometheus"

	"runnel/segment"
)

// The log cleaner: compacts the partitions of topics whose cleanup.policy includes compact
// (__consumer_offsets among them), with segment.Cleaner's goroutines over every log dir, as
// Kafka's LogCleaner (log.cleaner.enable, log.cleaner.threads, log.cleaner.dedupe.buffer.size,
// log.cleaner.io.max.bytes.per.second, log.cleaner.backoff.ms).

// startCleaner starts the cleaner over the broker's log dirs, unless log.cleaner.enable is
// false, and registers its metrics.
func (b *Broker) startCleaner() {
	if !b.cfg.CleanerEnable {
		return
	}
	dirs := make([]*segment.LogDir, 0, len(b.dirs))
	for _, d := range b.dirs {
		dirs = append(dirs, d.dir)
	}
	cfg := b.cfg.Cleaner
	cfg.Committed = b.committedOffset
	b.cleaner = segment.NewCleaner(cfg, dirs, b.logger)
	b.cleaner.Start()
	c := b.cleaner
	b.metrics.registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "runnel_log_cleaner_bytes_cleaned_total",
			Help: "Bytes of segments the log cleaner read (cleaned) since the start.",
		}, func() float64 { return float64(c.Stats().BytesCleaned) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "runnel_log_cleaner_last_clean_timestamp_seconds",
			Help: "When the log cleaner last finished cleaning a log (0: never).",
		}, func() float64 {
			if t := c.Stats().LastClean; !t.IsZero() {
				return float64(t.UnixMilli()) / 1000
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "runnel_log_cleaner_last_clean_seconds",
			Help: "How long the log cleaner's last clean took (Kafka's cleaner-recopy-time).",
		}, func() float64 { return c.Stats().LastDuration.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "runnel_log_cleaner_max_dirty_ratio",
			Help: "The highest dirty ratio among the compacted logs when the cleaner last looked (Kafka's max-dirty-percent, as a fraction).",
		}, func() float64 { return c.Stats().MaxDirtyRatio }),
	)
}

// committedOffset is where the cleaner stops in the log l of tp: the high watermark consumers
// read up to (highWatermark), for a single replica too.
func (b *Broker) committedOffset(tp segment.TopicPartition, l *segment.Log) int64 {
	if t := b.table.Load().byName[tp.Topic]; t != nil {
		if p := t.partitionAt(tp.Partition); p != nil && p.log == l {
			return b.highWatermark(p)
		}
	}
	return l.HighWatermark() // a log the broker no longer serves: what it last knew
}

// stopCleaner stops the cleaner's goroutines (before the log dirs close).
func (b *Broker) stopCleaner() {
	if b.cleaner != nil {
		b.cleaner.Close()
	}
}

// CleanerStats returns the log cleaner's metrics (zero when it is disabled).
func (b *Broker) CleanerStats() segment.CleanerStats {
	if b.cleaner == nil {
		return segment.CleanerStats{}
	}
	return b.cleaner.Stats()
}

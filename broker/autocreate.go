package broker

import (
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Auto-creation limits. auto.create.topics.enable stays true, as in Kafka,
// so any client can create topics by naming them in a Metadata request,
// and every partition reserves disk before it holds a byte
// (segment.Config.ReservedBytes: 20 MiB of index at creation and 64 MiB of
// log at its first write, at the defaults). Two broker settings cap what
// auto-creation may cause; topics made by CreateTopics count towards them
// but are not limited by them:
//
//   - runnel.auto.create.max.partitions: no auto-creation that would bring
//     the broker's partitions past it;
//   - runnel.auto.create.max.reserved.bytes: nor their reserved disk.
//
// Past a cap the topic is UNKNOWN_TOPIC_OR_PARTITION, as when
// auto-creation is off, the first refusal is logged with the setting to
// raise, and every refusal is counted
// (runnel_auto_create_refused_total).

// autoCreateLimit serializes auto-creations, so that concurrent Metadata
// requests cannot together pass a cap that each checked alone.
type autoCreateLimit struct {
	mu     sync.Mutex
	warned atomic.Bool
}

// autoCreateTopic creates topic name with the broker's defaults for a
// Metadata request, unless that would pass a cap, and returns once this
// broker has applied it.
func (b *Broker) autoCreateTopic(name string) error {
	if err := validateTopicName(name); err != nil {
		return err
	}
	settings, err := b.cfg.topicSettings(nil)
	if err != nil {
		return kafkaErr(kerr.InvalidConfig, "%v", err)
	}
	b.autoCreate.mu.Lock()
	defer b.autoCreate.mu.Unlock()
	partitions, reserved := b.reservations()
	adding := int64(b.cfg.NumPartitions)
	if partitions+adding > int64(b.cfg.AutoCreateMaxPartitions) ||
		reserved+adding*settings.log.ReservedBytes() > b.cfg.AutoCreateMaxReservedBytes {
		b.metrics.autoCreateRefused.Inc()
		if !b.autoCreate.warned.Swap(true) {
			b.logger.Warn("auto-creating topics refused: the broker's partitions would pass runnel.auto.create.max.partitions or runnel.auto.create.max.reserved.bytes (logged once)",
				"topic", name, "partitions", partitions, "reserved_bytes", reserved,
				"max_partitions", b.cfg.AutoCreateMaxPartitions, "max_reserved_bytes", b.cfg.AutoCreateMaxReservedBytes)
		}
		return kafkaErr(kerr.UnknownTopicOrPartition, "auto-creating topic %q would pass the broker's limits on auto-created partitions", name)
	}
	return b.createTopic(name, -1, -1, nil)
}

// reservations returns the broker's partition count and the disk they
// reserve before holding data.
func (b *Broker) reservations() (partitions, reservedBytes int64) {
	for _, t := range b.table.Load().byName {
		n := int64(len(t.partitions()))
		partitions += n
		reservedBytes += n * t.settings.Load().log.ReservedBytes()
	}
	return partitions, reservedBytes
}

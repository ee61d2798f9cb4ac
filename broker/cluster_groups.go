package broker

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// offsetsTopicLazy reports whether __consumer_offsets is created on the
// first FindCoordinator rather than at startup, as Kafka does: in a
// cluster of several nodes (process.roles set with more than one voter, or
// a broker-only node), where the first broker to start would otherwise
// create it before the others have registered and coordinate every group
// alone. A one-node cluster creates it at startup, as it always has.
func (b *Broker) offsetsTopicLazy() bool {
	if len(b.cfg.ProcessRoles) == 0 {
		return false
	}
	return !b.cfg.hasRole("controller") || len(b.cfg.QuorumVoters) > 1 || len(b.cfg.QuorumBootstrapServers) > 1
}

// createOffsetsTopic creates __consumer_offsets through the controller,
// placed like any topic's partitions, with offsetsReplicationFactor
// replicas. A single node creates it before it serves; a node of several
// (process.roles set) may start before the active controller answers, so
// it creates the topic from the background, retrying until it exists
// (whichever broker gets there first). Only one such creation runs at a
// time.
func (b *Broker) createOffsetsTopic(partitions int32) error {
	create := func() error {
		err := b.createTopic(offsetsTopic, partitions, b.offsetsReplicationFactor(), offsetsTopicConfigs)
		if errors.Is(err, kerr.TopicAlreadyExists) {
			return nil
		}
		return err
	}
	if len(b.cfg.ProcessRoles) == 0 {
		if err := create(); err != nil {
			return fmt.Errorf("broker: creating %s: %w", offsetsTopic, err)
		}
		return nil
	}
	if !b.creatingOffsets.CompareAndSwap(false, true) {
		return nil
	}
	b.bg.Go(func() {
		defer b.creatingOffsets.Store(false)
		for {
			if _, ok := b.image().Topic(offsetsTopic); ok {
				return
			}
			err := create()
			if err == nil {
				return
			}
			b.logger.Debug("creating the offsets topic; retrying", "err", err)
			select {
			case <-b.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	return nil
}

// requestOffsetsTopic starts creating __consumer_offsets in the
// background, for a FindCoordinator that found no such topic in a cluster
// of several nodes, unless the broker is closing.
func (b *Broker) requestOffsetsTopic() {
	select {
	case <-b.done:
		return
	default:
	}
	b.createOffsetsTopic(b.offsetsTopicPartitions()) // with process.roles set, never fails
}

// offsetsReplicationFactor is __consumer_offsets' replication factor:
// offsets.topic.replication.factor, lowered to the brokers unfenced in
// this broker's image (at least one), so that a cluster smaller than the
// setting, a single node among them, still gets its group coordinators.
func (b *Broker) offsetsReplicationFactor() int16 {
	live := max(1, len(b.image().LiveBrokers()))
	return int16(min(int(b.cfg.Control.OffsetsTopicReplicationFactor), live))
}

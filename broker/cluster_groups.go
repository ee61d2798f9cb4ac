package broker

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// createOffsetsTopic creates __consumer_offsets through the controller,
// placed like any topic's partitions. A single node creates it before it
// serves; a node of several (process.roles set) may start before the
// active controller answers, so it creates the topic from the background,
// retrying until it exists (whichever broker gets there first).
func (b *Broker) createOffsetsTopic(partitions int32) error {
	create := func() error {
		err := b.createTopic(offsetsTopic, partitions, -1, offsetsTopicConfigs)
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
	b.bg.Go(func() {
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

package events

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// The topics of the order flow.
const (
	Topic         = "orders"          // the events, keyed by order id
	SnapshotTopic = "order-snapshots" // the query service's snapshots, compacted
)

// CreateTopics creates Topic with partitions partitions and SnapshotTopic
// (one partition, cleanup.policy=compact), each unless it exists already, so
// that every service can call it at start whichever starts first. It
// returns Topic's partition count, which is partitions unless the topic
// existed.
func CreateTopics(ctx context.Context, admin *kadm.Client, partitions int32) (int32, error) {
	compact := "compact"
	for _, t := range []struct {
		name       string
		partitions int32
		configs    map[string]*string
	}{
		{Topic, partitions, nil},
		{SnapshotTopic, 1, map[string]*string{"cleanup.policy": &compact}},
	} {
		_, err := admin.CreateTopic(ctx, t.partitions, -1, t.configs, t.name)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return 0, fmt.Errorf("events: creating topic %s: %w", t.name, err)
		}
	}
	details, err := admin.ListTopics(ctx, Topic)
	if err != nil {
		return 0, fmt.Errorf("events: describing topic %s: %w", Topic, err)
	}
	if err := details.Error(); err != nil {
		return 0, fmt.Errorf("events: describing topic %s: %w", Topic, err)
	}
	return int32(len(details[Topic].Partitions)), nil
}

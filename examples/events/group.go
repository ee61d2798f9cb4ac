package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// commitTimeout bounds one commit, the last one included.
const commitTimeout = 10 * time.Second

// ConsumeGroup reads Topic as a member of group until ctx is done, calling
// handle for each event in partition order, and commits what it handled.
// handle's logger carries the event's type, order, seq, partition and
// offset; the example services log one line with it per event.
//
// Offsets are committed after each poll's records are handled, and once
// more when ctx is done, before the member leaves the group, and rebalances
// wait for a poll's records to be handled and committed
// (kgo.BlockRebalanceOnPoll). So, while commits succeed, each event is
// handled once per group across rebalances and clean stops (SIGTERM);
// after a crash the events handled since the last commit are handled
// again: at least once. A group
// new to the topic starts at its beginning.
//
// A record that is not an event is logged and skipped, and so is a failed
// commit (the next one covers its offsets). ConsumeGroup returns when ctx
// is done; its error is only that of creating the client.
func ConsumeGroup(ctx context.Context, log *slog.Logger, brokers []string, group string, handle func(*slog.Logger, Event)) error {
	client, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
	)
	if err != nil {
		return fmt.Errorf("events: group %s: %w", group, err)
	}
	defer client.Close() // leaves the group
	for {
		fetches := client.PollFetches(ctx)
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.Canceled) {
				log.Warn("fetch failed", "topic", topic, "partition", partition, "err", err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			e, err := Decode(r)
			if err != nil {
				log.Warn("skipped a record", "err", err)
				return
			}
			handle(log.With("event", e.Type, "order", e.OrderID, "seq", e.Seq, "partition", r.Partition, "offset", r.Offset), e)
		})
		// Not ctx: what was just handled is committed even when ctx ended
		// during the poll. A failed commit is covered by the next one.
		commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		if err := client.CommitUncommittedOffsets(commitCtx); err != nil {
			log.Warn("commit failed", "group", group, "err", err)
		}
		cancel()
		client.AllowRebalance()
		if ctx.Err() != nil {
			return nil
		}
	}
}

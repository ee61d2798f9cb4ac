package segment

import "fmt"

// AppendAsFollower appends records, one or more whole batches exactly as the leader stored
// them, to a follower's log (Kafka's UnifiedLog.appendAsFollower): nothing is assigned or
// stamped, so the follower's segments hold the leader's bytes. The batches are validated as
// Append validates them (lengths, CRC-32C), except that a batch the leader's cleaner rewrote
// may hold fewer records than its offset range. The first batch must start at or after the
// log end offset and each batch after the previous one's last offset (a compacted leader's
// batches leave gaps), else ErrUnexpectedOffset and nothing is written; the new log end is
// the last batch's last offset + 1. Each batch's partition leader epoch newer than the last
// recorded is recorded at that batch's base offset (leader-epoch-checkpoint), and the
// idempotent producer state is updated from the batches without checking their sequences
// (Kafka's AppendOrigin.REPLICATION), so that, once leader, the log deduplicates a retry of a
// producer's last batches. Everything else (rolls, preallocation, space, indexes, failures,
// Watch wake-ups) is as in Append. LogAppendTime is -1 and Duplicate false.
func (l *Log) AppendAsFollower(records []byte) (AppendInfo, error) {
	return l.append(records, nil)
}

// checkReplicatedOffsetsLocked checks the offsets of a follower's batches against the log end
// and each other.
func (l *Log) checkReplicatedOffsetsLocked(headers []BatchHeader) error {
	if first := headers[0].BaseOffset; first < l.mu.nextOffset {
		return fmt.Errorf("%w: first batch at offset %d, below the log end offset %d", ErrUnexpectedOffset, first, l.mu.nextOffset)
	}
	for i := 1; i < len(headers); i++ {
		if prev := headers[i-1].LastOffset(); headers[i].BaseOffset <= prev {
			return fmt.Errorf("%w: batch at offset %d does not follow the previous batch's last offset %d", ErrUnexpectedOffset, headers[i].BaseOffset, prev)
		}
	}
	return nil
}

// replicateProducersAndEpochsLocked records what a follower's batches tell: each idempotent
// producer's batch, unchecked, and each newer leader epoch at its batch's base offset.
func (l *Log) replicateProducersAndEpochsLocked(headers []BatchHeader) {
	for _, h := range headers {
		l.mu.producers.Update(h, h.BaseOffset)
		l.recordEpochLocked(h.PartitionLeaderEpoch, h.BaseOffset)
	}
}

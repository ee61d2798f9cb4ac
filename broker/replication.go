package broker

// Replication (issue 13), the broker's side of package replica.
//
// Leader epochs: produce and the group coordinator stamp each batch with
// the partition's leader epoch in the metadata image, and ListOffsets,
// OffsetForLeaderEpoch and consumer fetches check a request's
// CurrentLeaderEpoch against it as Kafka's Partition.checkCurrentLeaderEpoch
// does (checkLeaderEpoch).

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"runnel/broker/metadata"
	"runnel/segment"
)

// leaderEpoch is partition p's leader epoch in the image's topic it; 0 for
// a topic the image does not hold (served from the local table before the
// first image).
func leaderEpoch(it *metadata.Topic, p int32) int32 {
	if it == nil {
		return 0
	}
	part, ok := it.Partition(p)
	if !ok {
		return 0
	}
	return part.LeaderEpoch
}

// checkLeaderEpoch compares a request's CurrentLeaderEpoch with the
// partition's (Kafka's Partition.checkCurrentLeaderEpoch): an older one is
// FENCED_LEADER_EPOCH (the client's metadata is stale), a newer one
// UNKNOWN_LEADER_EPOCH (this broker's is); -1 asks for no check.
func checkLeaderEpoch(it *metadata.Topic, p, requested int32) error {
	if requested == -1 {
		return nil
	}
	switch current := leaderEpoch(it, p); {
	case requested < current:
		return kerr.FencedLeaderEpoch
	case requested > current:
		return kerr.UnknownLeaderEpoch
	}
	return nil
}

// epochAt is the leader epoch that wrote offset, from the log's
// leader-epoch cache (-1: none known).
func epochAt(l *segment.Log, offset int64) int32 {
	epoch := int32(-1)
	for _, e := range l.LeaderEpochs() {
		if e.StartOffset > offset {
			break
		}
		epoch = e.Epoch
	}
	return epoch
}

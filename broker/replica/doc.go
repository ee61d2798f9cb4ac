// Package replica is partition replication (issue 13), as Kafka's
// ReplicaManager, Partition and ReplicaFetcherThread do it:
//
//   - Leader is a partition's state on its leader: the ISR and partition
//     epoch the metadata image gave it, each follower's log end offset as its
//     fetches report it, and the high watermark, the smallest log end offset
//     over the ISR (the leader's own counted at its flushed offset under the
//     durable flush policy). Consumers read up to the high watermark only;
//     acks=all produces are answered once it reaches their end. It also
//     decides the ISR changes the leader asks the controller for
//     (AlterPartition, KIP-497): a follower not caught up for
//     replica.lag.time.max.ms leaves, one that reached the high watermark
//     comes back.
//   - Fetchers is the follower side: one fetch loop per leader broker
//     (Kafka's ReplicaFetcherThread), which sends Fetch with this node's
//     replica id to the leader, appends the leader's batches unchanged
//     (segment.Log.AppendAsFollower: offsets and leader epochs as the leader
//     stamped them, producer state rebuilt from them) and truncates a
//     divergent tail when the leader answers with a DivergingEpoch (KIP-279,
//     KIP-320). Its fetches go through a fetch session (KIP-227,
//     session.go): an idle partition costs nothing on the wire.
//   - lag.go is the lag in bytes and in time the metrics show, on both
//     sides (Fetchers.LagBytes, Fetchers.SinceCaughtUp,
//     Leader.MaxSinceCaughtUp).
//   - Leader.PreferredReadReplica (selector.go) is fetch from the closest
//     replica (KIP-392): the ISR follower in a consumer's rack that Kafka's
//     RackAwareReplicaSelector would send it to.
//
// Neither side knows the Kafka request path: the broker package serves
// replica fetches with the same zero-copy read as consumers and calls
// Leader.FollowerFetched, and it starts and stops following as metadata
// images make this broker a partition's leader or follower.
package replica

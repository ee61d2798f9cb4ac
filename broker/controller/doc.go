// Package controller holds Runnel's controller (KIP-500, KIP-631): the
// KRaft quorum member that turns admin requests and broker heartbeats into
// metadata records, replica placement (Place), which decides which brokers
// host a new partition and which of them leads it, and the leader helpers
// the controller needs: ElectLeader for elections and LeaderImbalance for
// automatic leader rebalancing. Placement works on its own small types
// (Broker, Request, Leadership), which the controller fills from the
// metadata image.
//
// # The controller
//
// A Controller runs on every controller-quorum voter. Its quorum.Node
// applies each committed entry to the voter's metadata image
// (metadata.Holder), so every voter, active or not, holds the same image:
//
//   - An entry's data is one RecordBatch v2 of metadata records
//     (metadata.AppendBatch, read with metadata.DecodeBatch): all the
//     records of one operation, applied together with Image.ApplyAll. An
//     entry that does not decode or apply is skipped whole (every voter
//     holds the same image, so every voter skips it) and logged; it never
//     stops the quorum. Empty entries (a new leader's) carry nothing.
//   - A snapshot's data is the image's Records as one such batch (nothing
//     for the empty image); Restore rebuilds the image from it.
//   - The metadata offset of an entry is its log offset, one less than its
//     Raft index (quorum/doc.go); AppliedOffset is the offset of the last
//     entry applied. A broker is caught up, and may be unfenced, once the
//     CurrentMetadataOffset of its heartbeat reaches the offset of the
//     entry that registered it.
//
// The active controller is the Raft leader once it has applied an entry of
// its own term (the empty entry Raft appends for a new leader): only then
// does its image hold everything earlier leaders committed. Every other
// voter answers NOT_CONTROLLER. The active controller runs one operation
// at a time under one mutex: validate the request against the current
// image (each item of a request against the image the items before it
// left), propose the records as one entry, wait until that entry is
// applied here, answer. So an operation sees every operation acknowledged
// before it, and two creates of one name cannot both succeed. It learns
// that its entry was applied by its bytes (an operation's batch carries
// its timestamp and, for topics, random ids). Raft does not report a
// dropped proposal, so the wait also watches the leadership: a lost
// leadership or term change fails the operation with NOT_CONTROLLER, whose
// outcome is then unknown to the client (the entry may still commit), as
// with Kafka's controller. A context that ends first gives
// REQUEST_TIMED_OUT.
//
// Broker sessions are the active controller's memory, not the log's, as in
// Kafka's BrokerHeartbeatManager: the last heartbeat or registration of
// each broker, on the injected clock. A controller that becomes active
// treats every broker as having just heartbeated. Every
// SessionCheckInterval it fences the unfenced brokers silent for
// broker.session.timeout.ms: a FenceBrokerRecord and PartitionChangeRecords
// that take the broker out of every ISR it shares with another member and
// move each partition it led to the first other unfenced ISR member in
// replica order (ElectLeader), or to no leader. When a fenced broker
// catches up and is unfenced, it leads again the partitions left without a
// leader whose ISR holds it.
//
// # Partition state changes
//
// Partition leaders change their ISRs with AlterPartition (KIP-497): the
// controller checks the sender's broker epoch, the leader and partition
// epochs and the new members, and writes one PartitionChangeRecord per
// changed partition (new ISR, partition epoch + 1, the leader epoch
// unchanged), all of one request in one entry (alter_partition.go).
//
// Leaders are elected (brokers.go, elections.go) among the available
// brokers: registered, unfenced and not in controlled shutdown (Kafka's
// LeaderAcceptor). The clean election takes the first such replica in the
// ISR; where there is none and the topic allows it
// (unclean.leader.election.enable, the topic's config or the broker
// default through Rules.Default), the unclean one takes the first such
// replica, which becomes the whole ISR. Unclean elections run where a clean
// one finds nobody (a leader fenced, a broker unfenced) and, for the
// leaderless partitions of a topic, as soon as a config change allows
// them. ElectLeaders runs PREFERRED and UNCLEAN elections on request, and
// with Rebalance.Enable the active controller runs preferred elections
// every Rebalance.CheckInterval for the brokers whose leader imbalance
// (LeaderImbalance) exceeds Rebalance.Percentage.
//
// A broker that heartbeats WantShutDown is in controlled shutdown, as in
// KRaft, held in the active controller's memory like sessions: it stays
// unfenced (its replicas keep fetching) but may not lead or join an ISR
// (AlterPartition answers INELIGIBLE_REPLICA); each of its heartbeats
// moves the leaderships it still holds and takes it out of every ISR with
// another member. Once one finds nothing to move, the metadata offset then
// applied is its shutdown offset, and the heartbeat after every other
// unfenced broker not shutting down (and it) has reported that offset
// fences it and answers ShouldShutDown: the brokers serve the new leaders
// before it stops. A controller that becomes active starts this again from
// the next heartbeat.
//
// # Reassignment
//
// AlterPartitionReassignments and ListPartitionReassignments (KIP-455)
// work as KRaft's ReplicationControlManager (reassign.go says how): a
// target T for replicas R makes the replicas T then R\T with
// AddingReplicas T\R and RemovingReplicas R\T, and every operation's
// records go through completeReassignments, so that the change that puts
// the last adding replica in the ISR (AlterPartition) completes the
// reassignment in the same entry.
//
// # Producer ids
//
// Brokers hand out producer ids from blocks of ProducerIDBlockSize (1000)
// that AllocateProducerIDs gives them (KIP-730), each committed as a
// ProducerIDsRecord whose NextProducerID is where the next block starts:
// the image, and so a restart from snapshot and log or a new active
// controller, never hands out a block twice. The first block starts at
// (the highest node id of a registered broker or a voter + 1) << 32, above
// the ids brokers gave out on their own (node.id << 32 + a counter) before
// this API.
//
// # Following the metadata log
//
// Brokers that are not voters (process.roles=broker) follow the committed
// log from the active controller as KRaft brokers do, with Kafka's Fetch
// and FetchSnapshot on the controller listener (package controllerclient
// is their side). ApplyEntry and RestoreImage are the one reader of the
// entry and snapshot data: the state machine and the brokers apply the log
// with them, so a broker's image at an offset is the controllers' image at
// that offset (equal Hash).
//
// FetchMetadata answers a Fetch of __cluster_metadata-0 (by name, or from
// v13 by KRaft's topic id AAAAAAAAAAAAAAAAAAAAAQ, MetadataTopicID) on the
// Raft leader:
//
//   - RecordBatches are the log's own batches (quorum/doc.go, "Entries"),
//     byte for byte, from the batch at FetchOffset: batch offset = Raft
//     index - 1, partitionLeaderEpoch = term, one record whose value is
//     version 0, the entry type, then the entry data, for normal entries
//     the operation's metadata records as one RecordBatch v2
//     (metadata/doc.go). Only committed entries are served (unlike KRaft,
//     whose voters also fetch uncommitted ones), so a broker's log never
//     diverges and DivergingEpoch is never set. At least one batch, then
//     up to min(MaxBytes, PartitionMaxBytes) (1 MiB when neither is set).
//   - HighWatermark (and LastStableOffset) = the commit index: the end
//     offset of the committed log. LogStartOffset = the first offset the
//     log still holds (first index - 1). CurrentLeader = this leader and
//     its term.
//   - FetchOffset below LogStartOffset: no records, error NONE and
//     SnapshotID = {EndOffset: the latest snapshot's index, Epoch: its
//     term}, as KRaft answers; the broker fetches that snapshot and fetches
//     on from EndOffset. FetchOffset past the high watermark (or negative):
//     OFFSET_OUT_OF_RANGE. A non-leader: NOT_LEADER_OR_FOLLOWER with the
//     leader it knows in CurrentLeader.
//   - A fetch of one partition at the high watermark waits up to
//     MaxWaitMillis for the next entry to be applied here.
//   - The replica id (ReplicaID, or ReplicaState.ID from v15) names the
//     broker, which DescribeQuorum then lists as an observer with its
//     fetch offset and fetch times (KRaft's rules; forgotten after five
//     minutes without a fetch).
//
// FetchSnapshot answers with the latest snapshot's data: the bytes the
// snapshot file's "data" record holds (the image's records as one
// RecordBatch v2, none for the empty image), in chunks: Bytes =
// data[Position : Position+MaxBytes], Size = len(data). The snapshot must
// be the latest (SNAPSHOT_NOT_FOUND otherwise, after which the broker
// fetches again and learns the new id); a Position outside the data is
// POSITION_OUT_OF_RANGE (position 0 of an empty snapshot is its end).
//
// DescribeQuorum (KIP-595, KIP-836), on the Raft leader only
// (NOT_LEADER_OR_FOLLOWER elsewhere): LeaderID, LeaderEpoch (the term),
// HighWatermark (the commit index), CurrentVoters with their log end
// offsets (Raft's match index) and the last fetch and caught-up times the
// leader estimates by sampling Raft's Progress every SessionCheckInterval
// (recently active; match at the leader's last index), and Observers (the
// brokers that fetch the log). Nodes (v2) is empty.
//
// Validation that belongs to the broker (legal topic name characters,
// topic config keys and values, list configs) comes in through Rules, so
// that both apply the same rules.
//
// # Placement
//
// Place answers CreateTopics and CreatePartitions. It takes the brokers as
// the controller sees them (id, rack, fenced, and how many replicas and
// preferred leaderships each already holds) and returns one replica list
// per new partition; the first replica is the preferred leader. Its rules,
// after Kafka's StripedReplicaPlacer (KRaft) and AdminUtils.
// assignReplicasToBrokers (the older rack-alternating placer):
//
//   - The replicas of a partition are distinct brokers.
//   - Fenced brokers are never chosen. (Kafka may place followers on fenced
//     brokers once the unfenced ones run out; Runnel does not, so a
//     replication factor larger than the unfenced brokers is
//     INVALID_REPLICATION_FACTOR.)
//   - Racks: a partition's replicas go to the racks that hold fewest of its
//     replicas so far, so every rack gets one before any gets two, two
//     before any gets three, and so on while a rack has brokers left.
//     Brokers without a rack form one rack of their own, as KRaft's
//     Optional.empty rack does.
//   - Each request first: leader and replica counts are balanced over the
//     partitions of this request (one topic, or one CreatePartitions), as
//     Kafka's placers spread each request round robin from a random start.
//     What the cluster already holds only breaks ties: it decides which
//     brokers get the partitions left over when the count does not divide,
//     so topics created one after another keep the totals balanced too. (A
//     fresh cluster whose __consumer_offsets went to one broker still gets
//     every new topic on every broker.)
//   - Leaders: every partition's leader is chosen first, each the broker
//     with the fewest preferred leaderships in this request, so they are
//     within one of even per request whatever the racks; ties go to fewest
//     leaderships in all, then to the rack with fewest leaderships per
//     broker (this request, then in all), then to fewest replicas in all.
//   - Followers: among the brokers the rack rule allows, the one that will
//     hold the fewest replicas of this request, its leaderships to come
//     counted, so the request's replicas are within one of even where the
//     racks allow it; ties go to fewest replicas in all. With racks of very
//     different sizes the rack rule wins, as in Kafka: the only broker of a
//     small rack gets a replica of most partitions.
//   - Choosing one partition at a time can still end with the request's
//     replica counts two apart (the rack rule or a leader placed late
//     leaves no better choice for the last partitions). A repair pass then
//     moves replicas of the new partitions along the shortest chain of
//     brokers from one holding the most to one holding the fewest, each
//     move keeping the rules above and leader counts (of the request and in
//     all) as balanced.
//   - Remaining ties are broken by a random order of the brokers (drawn from
//     the caller's generator, so a seed reproduces a placement), rotated per
//     partition, and followers start after the leader with a shift that
//     grows every round of brokers, as AdminUtils' nextReplicaShift does, so
//     that a broker's partitions do not all share the same followers.
//
// Leader totals stay within one of even over any sequence of requests on
// the same brokers. Replica totals drift a little with topics of different
// replication factors (a few replicas over 1,000 topics in the tests):
// leader and replica counts cannot always both be even, and leaders win.
//
// Explicit assignments are checked as ReplicationControlManager checks
// them: each partition named once, partitions consecutive from the first
// new one, no empty list, no unregistered broker, no broker twice, every
// list as long as the others (or as the topic's replication factor for
// CreatePartitions), and at least one unfenced broker in each list; any
// failure is INVALID_REPLICA_ASSIGNMENT.
//
// Place allocates partitions × replication factor int32s: the caller caps
// the partition count first (Runnel's runnel.max.partitions.per.topic).
package controller

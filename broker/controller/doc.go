// Package controller will hold Runnel's active controller: the KRaft
// quorum member that turns admin requests and broker heartbeats into
// metadata records (KIP-500, KIP-631). For now it holds replica placement
// (Place), which decides which brokers host a new partition and which of
// them leads it, and the leader helpers the controller needs: ElectLeader
// for elections and LeaderImbalance for automatic leader rebalancing. It
// works on its own small types (Broker, Request, Leadership); the
// controller fills them from the metadata image.
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
//   - Leaders: every partition's leader is chosen first, each the broker
//     with the fewest preferred leaderships, counting what the cluster
//     already holds, so leader counts stay within one of even whatever the
//     racks; ties go to the rack with fewest leaderships per broker, then to
//     the broker with fewest replicas.
//   - Followers: among the brokers the rack rule allows, the one that will
//     hold the fewest replicas, its leaderships to come in this request
//     counted, so replica counts stay within one of even where the racks
//     allow it. With racks of very different sizes the rack rule wins, as
//     in Kafka: the only broker of a small rack gets a replica of most
//     partitions.
//   - Choosing one partition at a time can still end with replica counts
//     two apart (the rack rule or a leader placed late leaves no better
//     choice for the last partitions). A repair pass then moves replicas of
//     the new partitions along the shortest chain of brokers from one
//     holding the most to one holding the fewest, each move keeping the
//     rules above and leader counts as balanced.
//   - Remaining ties are broken by a random order of the brokers (drawn from
//     the caller's generator, so a seed reproduces a placement), rotated per
//     partition, and followers start after the leader with a shift that
//     grows every round of brokers, as AdminUtils' nextReplicaShift does, so
//     that a broker's partitions do not all share the same followers.
//
// Leader and replica counts cannot always both be within one of even: a
// cluster whose brokers lead and host in different proportions (topics of
// different replication factors) may force a choice; leaders win.
//
// Kafka's placers balance only within one request (random start offsets);
// Place balances against the counts the cluster already holds, so topics
// created one after another keep the totals balanced.
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

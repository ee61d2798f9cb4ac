// Package group is Runnel's group coordinator: groups under Kafka's
// classic rebalance protocol and KIP-848 consumer groups, and their
// committed offsets, kept durably in the internal topic __consumer_offsets
// through a Store the broker provides.
//
// # Which groups
//
// A group belongs to partition PartitionFor(group) of __consumer_offsets,
// and a coordinator serves the groups of the partitions it holds: those
// Config.Owned names at New (all without it, as on one node), then
// whatever Load adds and Unload takes away as the partitions' leadership
// moves between brokers. Load replays the partition on a goroutine of its
// own; until it is done, requests for its groups get
// COORDINATOR_LOAD_IN_PROGRESS (and ListGroups leaves them out, Loading
// reports it). Unload answers members waiting in JoinGroup or SyncGroup
// with NOT_COORDINATOR and drops the groups; commits in flight are answered
// when the Store reports their fate. Every request for a group of a
// partition not served (every group API, ConsumerGroupHeartbeat too) gets
// NOT_COORDINATOR, so that the client finds the coordinator again.
//
// # Groups
//
// A group moves through Kafka's states:
//
//	Empty --join--> PreparingRebalance --all joined / rebalance timeout--> CompletingRebalance
//	CompletingRebalance --leader's SyncGroup persisted--> Stable
//	Stable/CompletingRebalance --join with new metadata, leave, session expiry--> PreparingRebalance
//	PreparingRebalance --no member left--> Empty (generation + 1)
//	Empty --DeleteGroups, offsets expired--> Dead (removed)
//
// JoinGroup from v4 hands a new dynamic member its id with MEMBER_ID_REQUIRED
// and waits for it to join again with that id (KIP-394). A static member
// (group.instance.id, KIP-345) that joins again with a new member id takes
// over its old member's place: in a Stable group whose protocol metadata
// did not change this needs no rebalance; the old member id is fenced
// (FENCED_INSTANCE_ID). The first rebalance of an Empty group waits
// group.initial.rebalance.delay.ms, longer while new members keep coming,
// up to the rebalance timeout. A rebalance completes when every member has
// joined or the largest rebalance timeout has passed (dynamic members that
// did not join are then removed); members that do not send SyncGroup within
// the rebalance timeout after the join completes are removed too. A member
// that sends no heartbeat (nor commit) within its session timeout is
// removed, except while it waits in JoinGroup or SyncGroup.
//
// The coordinator never looks inside protocol metadata or assignments for
// the rebalance: the leader's client-side assignor (range, roundrobin,
// sticky, cooperative-sticky, anything) decides, and the bytes pass through
// unchanged. It reads consumer subscriptions only for OffsetDelete
// (GROUP_SUBSCRIBED_TO_TOPIC) and for expiring offsets of topics a stable
// consumer group no longer subscribes to.
//
// # KIP-848 consumer groups
//
// consumer.go serves ConsumerGroupHeartbeat: members subscribe to topic
// names or a regular expression (which the coordinator resolves against
// every topic, internal ones included), the broker assigns partitions
// ("uniform" or "range") and members reconcile towards the target
// assignment, releasing partitions before anyone else gets them. An empty
// group changes between the classic and the consumer protocol as members
// of the other kind join; offsets are shared. KIP-848 membership is not
// persisted: after a restart members join again.
//
// # Offsets
//
// A commit is answered once its records are durable, and only then becomes
// visible to OffsetFetch. Offsets of an Empty consumer group expire
// offsets.retention.minutes after it became empty; offsets committed
// without a group protocol (standalone consumers, admin tools) expire that
// long after their commit. A group left Empty without offsets is removed.
//
// # Persistence
//
// Records use Kafka's own schemas (franz-go's kmsg types): OffsetCommitKey
// v1 with OffsetCommitValue v3, and GroupMetadataKey v2 with
// GroupMetadataValue v3; a nil value is a tombstone (offset deleted, group
// deleted). A group's records go to partition PartitionFor(group) of
// __consumer_offsets, as Kafka places them (Java's String.hashCode). New
// replays the partitions it serves at startup, Load one more; later records
// win.
//
// # Concurrency
//
// Each group has its own mutex; each partition's group table is a
// sync.Map behind an atomic pointer (nil while not served), so heartbeats,
// joins and commits of different groups never contend. Unload swaps the
// table out before it stops the groups, and a request checks under the
// group's mutex that its table is still the partition's, so no request
// works on a group that Unload has stopped or will miss. Load, Unload,
// Close and the end of a load are serialized by one mutex. Lock order:
// that mutex, then a group's mutex, then whatever Store.Append takes.
// Store callbacks and timers take the group's mutex; they never run while
// a caller holds it (Store.Append must not call done before it returns).
// Response callbacks are called with the group's mutex held and must not
// block or call back into the coordinator.
package group

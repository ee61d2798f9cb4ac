// Package controllerclient connects a broker to the controller quorum over
// the network, through the controllers' controller listeners (the
// addresses of controller.quorum.voters, or
// controller.quorum.bootstrap.servers):
//
//   - Client sends a Kafka request to the active controller (one kgo.Client
//     seeded with the controllers; each request goes to one seed broker
//     with kgo's Broker.Request, so kmsg encodes everything). It finds the
//     active controller with DescribeQuorum, which only the Raft leader
//     answers, and moves on, with backoff, when a controller answers
//     NOT_CONTROLLER (NOT_LEADER_OR_FOLLOWER to a Raft API: Fetch,
//     FetchSnapshot, DescribeQuorum) or cannot be reached, until the
//     request's context ends. CommittedOffset is the active
//     controller's high watermark, for a broker that waits until its own
//     image holds what a forwarded admin request committed.
//   - Lifecycle is the broker's side of KIP-631: registration, heartbeats,
//     fencing until caught up, controlled shutdown (after Kafka's
//     BrokerLifecycleManager; the rules are on the type). It sends them to
//     a Registrar: a Client, or a single node's own controller.
//   - Follower keeps the image of a broker-only node (not a voter) up to
//     date by fetching the committed metadata log from the active
//     controller, as KRaft brokers fetch it (controller/doc.go, "Following
//     the metadata log"), and applying it with the controllers' own
//     controller.ApplyEntry, handing each image to FollowerConfig.Applied
//     (the broker's ImageCommitted). It is in memory only in this version: a
//     restarted broker fetches the log again (from the latest snapshot
//     when the controllers compacted theirs).
//
// A combined node (broker and controller) needs only Client and Lifecycle:
// its broker reads the image of its own controller (controller.Config's
// Holder) and reports controller.AppliedOffset as its metadata offset.
package controllerclient

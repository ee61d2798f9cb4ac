// Package quorum keeps the controller quorum's Raft log in Runnel's own storage, as KRaft
// does (KIP-595), and drives etcd's Raft (go.etcd.io/raft/v3) over it. Storage is a
// raft.Storage; Node runs the Ready loop; Transport carries messages (LocalNetwork in one
// process for tests; TCPTransport over the controller listener, below).
//
// # Ids
//
// Raft reserves id 0 for "none" and Kafka's node ids start at 0, so a voter's Raft id is its
// node.id + 1 (the broker's raftID), on the wire (the hello below) and in the HardState's vote.
// A node that is the only voter campaigns as soon as it knows the configuration, without
// waiting an election timeout (a one-node cluster is active at once).
//
// # Files
//
// The partition directory __cluster_metadata-0 (Partition) is a segment log like any other,
// so `runnel dump-log` reads it, with two kinds of file beside the segments:
//
//	00000000000000000000.log        the Raft log, one batch per entry (below)
//	00000000000000000000.index      its offset and time indexes, as any segment's
//	00000000000000000000.timeindex
//	leader-epoch-checkpoint         "epoch startOffset" lines: where each term starts
//	00000000000000000420-0000000003.checkpoint   the latest snapshot: index 420, term 3
//	quorum-state                    the HardState
//
// # Entries
//
// Entry i of the log is the batch at offset i-1 (offset = index - 1): a RecordBatch v2
// (segment/doc.go) holding exactly one record, with the entry's term as the batch's
// partitionLeaderEpoch. The record has a null key and this value:
//
//	 0               1               2
//	+---------------+---------------+---------------------------------+
//	| version=0     | entry type    | entry data (the rest, may be    |
//	| (uint8)       | (uint8)       | empty)                          |
//	+---------------+---------------+---------------------------------+
//
// The entry type is raftpb.EntryType: 0 normal (a proposal; data is the application's,
// empty for the entry a new leader appends), 1 ConfChange, 2 ConfChangeV2 (data is the
// protobuf encoding of the change). The batch's timestamps are the append time; it has no
// producer id and no compression. Entries of one term are appended together (one Append,
// many batches), then the log is fdatasync'd: an entry counts as written only after that
// Sync returns. A new leader's entries that replace a conflicting tail first truncate the
// log (Log.TruncateTo) at the first replaced entry's offset.
//
// EntryBatches reads the batches of a range of entries as they are stored, for the controller
// to serve the committed log to brokers; DecodeEntryBatches reads such bytes back (checking
// each batch's CRC, ignoring a batch cut short at the end).
//
// # HardState: quorum-state
//
// JSON after Kafka's file of the same name, replaced atomically (io/disk.WriteFileAtomic):
//
//	{"data_version":0,"leaderEpoch":3,"votedId":2,"commitIndex":417}
//
// leaderEpoch is the Raft term, votedId the vote (0: none), commitIndex the commit index.
// A missing file is the empty HardState (a new voter). Node writes it only when the term or
// the vote changed (Raft's MustSync), not for a commit index alone, which a restart learns
// again from the leader; Open raises a commit index below the snapshot's to it.
//
// # Snapshots
//
// Named as Kafka names them, <end offset, 20 digits>-<epoch, 10 digits>.checkpoint: the
// end offset is the snapshot's Raft index (the entries it covers are offsets 0 to index-1)
// and the epoch its term. The file is one RecordBatch v2 with two records, written
// atomically; the batch's partitionLeaderEpoch is the term:
//
//	record 0: key "metadata", value raftpb.SnapshotMetadata (protobuf: index, term, ConfState)
//	record 1: key "data",     value the state machine's snapshot
//
// Only the latest snapshot is kept; older ones are removed once a newer one is durable.
// Compact(i) (i at most the snapshot's index) moves the log start offset to i and deletes
// the segments wholly below it; the entries between the compaction point and the snapshot
// serve lagging followers until a restart, which starts the log right after the snapshot.
// ApplySnapshot (a snapshot from the leader) writes the file, then empties the log and
// restarts it at the snapshot's index (Log.TruncateFullyAndStartAt), durably.
//
// # Opening
//
// Open validates every batch of the log (it is small: snapshots bound it) and lines it up
// with the latest snapshot: entries up to the snapshot are ignored; a log that ends before
// the snapshot, or whose entry at the snapshot's index has another term (a crash undid the
// truncation of an installed snapshot), is restarted after it. A commit index past the log
// end, a batch that is not one entry or whose term goes down, and unreadable files are
// errors wrapping ErrCorrupt, never panics.
//
// # The Ready loop
//
// Node handles each raft.Ready in the order Raft asks (STYLE.md rule 19): snapshot, entries
// and HardState saved (each durable on return), then messages sent, then the snapshot and
// the committed entries applied to the StateMachine (configuration changes applied to Raft
// first), then Advance. A storage or state machine error stops the node (Done, Err). A read
// Raft itself makes (Storage.Entries) cannot stop it that way: etcd's Raft panics on such an
// error, so the Storage halts the process instead, as Kafka's fatal fault handler does (the
// reason logged as "Encountered fatal fault", exit status 1, no goroutine dump). With
// NodeConfig.SnapshotEvery set, the node snapshots the state machine and compacts the log.
//
// # Raft over TCP
//
// TCPTransport speaks a protocol of Runnel's own on the controller listener (it is not a Kafka
// API: the voters are Runnel's own). All integers are big-endian. The dialling voter opens with
// a hello, the accepting one answers with its own:
//
//	+--------+---------+------------+---------+------------------+
//	| "RNRF" | version | node id    | len     | cluster id       |
//	| 4 bytes| uint16=1| uint64 > 0 | uint8   | len bytes (UTF-8)|
//	+--------+---------+------------+---------+------------------+
//
// The acceptor refuses (closes without answering) a wrong magic or version, another cluster
// id, or a node id that is not one of its peers; the dialler closes when the answer is not
// from the voter it dialled, of its cluster. The handshake must complete within IOTimeout.
// Then the dialler sends frames, one raftpb.Message each, and the acceptor sends nothing:
//
//	+----------------+-----------------------------------------+
//	| length uint32  | raftpb.Message, protobuf (length bytes) |
//	+----------------+-----------------------------------------+
//
// A length over MaxFrameBytes (64 MiB by default; a snapshot travels in one MsgSnap frame),
// bytes that do not decode, or a message whose from is not the hello's node id or whose to is
// not the acceptor close the connection; nothing a peer sends can panic or stop the node.
// Each voter dials each peer once (connections are one-way), so a pair of voters holds two
// connections. Per peer, messages wait in a bounded queue; Send drops a message (and reports
// the peer unreachable, a MsgSnap as failed) when the queue is full or no connection is up,
// and the connection is redialled with doubling, jittered backoff. A MsgSnap is reported
// finished once its frame is flushed to the socket.
//
// The magic read as a Kafka request's int32 size is 1,380,864,582 bytes, more than any
// socket.request.max.bytes, so a listener that also serves Kafka requests (the controller
// listener) can tell a Raft connection by its first four bytes and hand it to ServeConn (with
// the bytes it peeked put back in front).
package quorum

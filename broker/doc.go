// Package broker is Runnel's Kafka server: one node, many log directories,
// the Kafka wire protocol decoded and encoded with franz-go's kmsg.
//
// # Embedding
//
//	cfg := broker.DefaultConfig()       // or broker.NewConfig(properties)
//	b, err := broker.New(cfg, logger)   // opens and recovers the logs
//	go b.ListenAndServe()               // or b.Serve(listener)
//	...
//	b.Close()                           // drain, flush, clean-shutdown marker
//
// Package brokertest starts a real broker on a loopback port for tests.
//
// # Requests
//
// A request's frame is size-checked against socket.request.max.bytes
// before anything is allocated for it; its header (v1, or v2 for flexible
// versions) is parsed and its body decoded with kmsg (conn.go's
// handleFrame, shared by both transports); then its API's handler runs.
// A version outside the table's range gets UNSUPPORTED_VERSION (for
// ApiVersions, KIP-511's v0 answer listing the table). Bytes that do not
// decode close the connection with a rate-limited log line (loglimit.go);
// nothing read from the network can panic the process, and a handler that
// panics is recovered as a last resort and closes its connection. Replies
// are written strictly in request order, whatever order they finish in, and
// a connection stops reading while maxInFlight of its replies are unwritten.
//
// Two transports serve connections (Config.Net, runnel.net). Each is a
// transport (its client's address, stopReading, close) that embeds the conn
// handlers see. epoll (epollConn, conn_epoll.go), the default on Linux:
// package netpoll's event loops, one per core, read the frames and write
// the replies (writev, sendfile); there is no goroutine per connection. A
// reply of bytes finished off the loop (a produce's, by the flusher's
// goroutine after its sync) and next in order is written by the goroutine
// that finished it, without waking the loop, so its release (metrics, the
// encode buffer's return) may run there. std
// (stdConn, conn.go), the default elsewhere: a reader goroutine that reads,
// decodes and dispatches, and a writer goroutine that writes the queued
// replies in order. Both decode with conn.handleFrame, read request frames
// into io/bufpool's size-class buffers and write a reply's body through a
// pieceWriter. Handlers see no difference.
//
// # Writing an API (the contract between the files of this package)
//
// One file per API, opening with a comment that states the versions served
// ("<API>, versions <min> through <max>", or "<min>-<max>") and the
// behaviour, registering itself in the API table (api.go) from an init
// function:
//
//	func init() {
//		registerAPI(apiHandler{key: kmsg.Produce.Int16(), minVersion: ..., maxVersion: ..., handle: handleProduce})
//	}
//
// ApiVersions advertises exactly the table, so the table is the one list of
// the versions served; TestAPIFilesStateTheirVersions keeps each file's
// opening comment equal to it. Register only versions kmsg decodes and the
// handler implements.
//
// A handler has the signature func(*Broker, *request) *reply. It runs on
// the connection's reader goroutine (std) or on its event loop (epoll),
// where it would stall every connection of the loop, so it must not block
// for long. An API whose handler does file-system work that can take
// milliseconds (a controller round trip, creating or deleting logs) is marked
// blocking in the table: the epoll transport runs it on a goroutine of its
// own, with the connection held (netpoll's Conn.Hold, Conn.Unhold when it
// returns) so that the connection's later requests are still handled after
// it, in order. A produce frame of offLoopProduceBytes or more is handled
// off the loop the same way. A wait that is not file-system work (a
// produce waiting for its fsync, a fetch long-poll) is not blocking: the
// handler returns an unfinished reply and another goroutine finishes it.
//
// A handler returns a reply made with newReply() and completes it exactly
// once, before returning or later from any goroutine:
//
//   - (*reply).finish(resp kmsg.Response): a kmsg response; the connection
//     sets its version to the request's and writes the response header.
//   - (*reply).finishFrame(f responseFrame): a body framed by hand (the
//     zero-copy fetch), written through the transport's pieceWriter
//     (writeBytes, writeFile: sendfile at an explicit offset); the connection
//     writes size and response header, then calls f.writeTo, then
//     f.release (release is called even when the connection died first).
//     A frame may implement errorCode() int16 for the request metrics.
//   - (*reply).finishNone(): no response at all (acks=0 produce).
//
// Byte slices inside req.msg (a produce's records, a JoinGroup's member
// metadata) point into the frame buffer. The buffer belongs to the request
// and a handler may keep them, except for the APIs listed in frameReusers
// (Produce), whose buffer the connection reuses for the next request as
// soon as the handler returns; such a handler that keeps slices longer
// calls req.retainBuffer(). Strings in req.msg are copies.
//
// Long waits select on b.done, closed when Close starts: Close waits for
// the replies in flight (up to Config.ShutdownTimeout) before it closes
// the flushers and logs, so a fetch long-poll should end early on b.done
// and a produce waiting for the flusher is completed by the flusher.
//
// # Topics and partitions
//
// (*Broker).partition(topic, index) and (*Broker).partitionByID(id, index)
// return a *partition or a kerr error (UNKNOWN_TOPIC_OR_PARTITION,
// UNKNOWN_TOPIC_ID). A partition has its topic name and id, index, its
// *segment.Log, the *flush.Flusher of its log dir, and config() with the
// topic's current settings (maxMessageBytes, logAppendTime, flushMessages,
// flushInterval, the segment.Config). Lookups take no lock. A partition may
// be deleted while a request uses it: its log is then closed and storage
// calls fail with segment.ErrClosed, which errCode maps to
// UNKNOWN_TOPIC_OR_PARTITION.
//
// Errors become Kafka codes in one place, errCode in errors.go.
//
// # Consumer groups
//
// This node coordinates the groups of the partitions of __consumer_offsets
// that the metadata image says it leads. A one-node cluster creates the
// topic at startup (and coordinates every group while the image does not
// hold it); a cluster of several nodes creates it on the first
// FindCoordinator, as Kafka does, so that its partitions spread over the
// brokers registered by then (cluster_groups.go). The group APIs' handlers hand their requests to
// package group's Coordinator (groups.go connects the two), which keeps its
// state in the internal topic __consumer_offsets, replays the partitions it
// serves, and finishes the replies from its callbacks. Data requests for a
// partition the image places elsewhere are refused with its leader
// (routing.go).
//
// # On disk
//
// Each log dir holds meta.properties (cluster.id, node.id) and its
// partitions' directories (each with partition.metadata naming the topic
// id); the first log dir also holds the metadata log __cluster_metadata-0
// (package quorum), from which the topics, their partitions and configs
// come (cluster.go). At startup, once the image is caught up, partition
// directories it does not assign to this node are deleted and those it
// assigns that no dir holds are created (startup.go). New partitions go to
// the log dir holding the fewest.
//
// Before it opens the logs, New checks the host (hostcheck.go): the memory
// mappings and file descriptors the logs will hold against vm.max_map_count
// and RLIMIT_NOFILE, and the log dirs' file systems against
// runnel.flush.policy=durable. A problem is a warning that names the setting
// to change, or an error when the logs could not be opened at all.
//
// # Background work
//
// Retention every log.retention.check.interval.ms, recovery-point and
// log-start checkpoints every runnel.checkpoint.interval.ms, and under the
// interval flush policy the topic-level flush.messages/flush.ms loop
// (topic_flush.go). Metrics, pprof and /healthz are on the admin listener
// (metrics.go).
//
// # Lock order
//
// Broker.adminMu (topic changes) before Broker.mu (listeners, connections).
// The topic table is copy-on-write behind an atomic pointer.
package broker

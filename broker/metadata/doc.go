// Package metadata holds the cluster's metadata records and the image
// they build: the format of the records the controller quorum appends to
// __cluster_metadata-0, and the immutable in-memory Image every broker
// applies them to (brokers, topics, partitions with leader, replicas, ISR
// and epochs, configs), from which Metadata, DescribeCluster,
// DescribeConfigs, FindCoordinator and request routing read.
//
// # Where the records live
//
// The metadata log is a normal partition log (package segment): RecordBatch
// v2 batches, uncompressed, written by AppendBatch with segment.BuildBatch
// and read back by DecodeBatch with segment.Records, so `runnel dump-log`
// reads it like any other. Each Kafka record of a batch carries one
// metadata record as its value; its key is null and it has no headers. The
// batch's offsets and leader epoch are the log's, as for any batch.
//
// # A record
//
// All integers are big-endian and fixed-width. Every record starts with two
// bytes, its type and the version of that type's fields:
//
//	+--------+---------+------------------------------+
//	| type u8| version | fields of that type/version  |
//	+--------+---------+------------------------------+
//
// Field encodings:
//
//	int8/16/32/64, uint16   fixed width, big-endian
//	bool                    one byte, 0 or 1 (any other byte is invalid)
//	uuid                    16 bytes (Kafka's Uuid; all zero = none)
//	string                  uint16 length, then that many bytes of UTF-8
//	[]int32                 uint16 count, then count int32s
//
// A record is exactly its fields: bytes after the last field, a boolean
// that is not 0 or 1, an unknown flag bit or a string that is not UTF-8 make
// it invalid (ErrInvalidRecord), so every record that decodes re-encodes to
// the same bytes. Decoding never trusts a length or count beyond the bytes
// present and never panics.
//
// The types, numbered as KRaft's apiKeys for the same records, and their
// version 0 fields in order:
//
//	0 RegisterBroker   node id int32, incarnation id uuid, broker epoch int64,
//	                   listener count uint16, per listener: name string,
//	                   host string, port uint16, security protocol int16
//	                   (0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL),
//	                   then rack string ("" none), fenced bool; port 0
//	                   is a port not known yet (a single node that listens
//	                   on an ephemeral port, whose clients learn it from
//	                   the node itself)
//	2 Topic            topic id uuid, name string
//	3 Partition        topic id uuid, partition int32, replicas []int32,
//	                   isr []int32, leader int32 (-1 none), leader epoch int32,
//	                   partition epoch int32. Version 1 (a partition being
//	                   reassigned) appends adding replicas []int32, removing
//	                   replicas []int32, not both empty
//	4 Config           resource type int8 (2 topic, 4 broker), resource name
//	                   string, key string, deleted bool, then value string
//	                   only when deleted is 0
//	5 PartitionChange  topic id uuid, partition int32, flags u8 (bit 0:
//	                   replicas follow, bit 1: isr follows; other bits must
//	                   be 0), [replicas []int32], [isr []int32], leader int32
//	                   (-2 unchanged, -1 none), leader epoch int32, partition
//	                   epoch int32 (the values after the change)
//	                   Version 1 (a change that sets a reassignment's
//	                   replicas) appends: flags u8 (bit 0: adding replicas
//	                   follow, bit 1: removing replicas follow; at least one,
//	                   no other), [adding []int32], [removing []int32]
//	7 FenceBroker      node id int32, broker epoch int64
//	8 UnfenceBroker    node id int32, broker epoch int64
//	9 RemoveTopic      topic id uuid
//	15 ProducerIds     broker id int32, broker epoch int64, next producer id
//	                   int64 (above the previous record's; added after the
//	                   others: a log without one reads as before)
//
// For example a Topic record for "orders":
//
//	02 00 | 16 bytes of topic id | 00 06 | 6f 72 64 65 72 73
//	type version                 name length "orders"
//
// Replica lists are full from the start (placement order, the first replica
// is the preferred leader), so replication changes no format.
//
// # Versions
//
// A type's version rises when its fields change; the only change allowed
// is to append fields after the last one (a decoder of version n reads the
// fields of every version up to n, with zero values for fields a lower
// version lacks). A field's meaning and encoding never change, and type
// numbers are never reused. A decoder refuses a type or a version above the
// ones it knows (ErrUnknownRecord): it cannot know what the new fields mean,
// and an image that silently dropped them would differ between brokers. So
// a writer must not write a new version until every node of the cluster
// reads it (what KRaft's metadata.version feature level is for). A record
// is written in the lowest version that holds its fields, and decoding
// refuses a higher version whose new fields say nothing (so a record has
// one encoding): Partition and PartitionChange are at version 1, written
// only for a reassignment (KIP-455), so a cluster that never reassigns
// writes what earlier builds read. Every other type is at version 0.
//
// # The image
//
// Apply takes one record and returns a new *Image, sharing with the old
// one every map and partition chunk the record did not touch. Brokers are
// one small map; topics by id, topic names and configs are each split into
// 256 shards by the key's hash; each topic holds its partitions in chunks
// of 64. A change to one partition copies the shard table of the topics
// (256 pointers), one shard (a 256th of the topics), the topic's chunk list
// and one chunk: never all partitions, however they are spread over
// topics. A reader of an old image never sees a later change. ApplyAll
// applies a batch (a snapshot, a topic with all its partitions) to one
// private copy that it changes in place, copying each shard, topic and
// chunk at most once, and returns it as the new image. Apply checks every record against
// the image and refuses, leaving the image as it was, what would corrupt
// it: a partition of an unknown topic or out of order (partitions are dense,
// created 0, 1, 2 ...), a change whose partition epoch is not the current
// one plus one, a leader epoch that falls or does not rise with a new
// leader, a leader not in the ISR, an ISR member not a replica, duplicate
// replicas, adding or removing replicas that are not distinct replicas (or
// are both, or remove every replica), a duplicate topic id or name, a config of an unknown topic, a
// fence or unfence with a broker epoch not the registered one, a
// registration whose epoch is not above the previous one. It does not check
// that replicas are registered brokers (a snapshot may hold partitions of a
// broker that never comes back) nor which characters a topic name may hold
// (the controller checks names with the broker's rules before it writes).
// Removing a topic removes its partitions and its configs.
//
// Records writes an image out as the records that rebuild it (brokers,
// then per topic its topic, config and partition records, then broker
// configs, each sorted): what a metadata snapshot holds. Hash is a SHA-256
// of those records, equal on two brokers exactly when their images are.
// Apply refuses strings and arrays the format cannot hold, so every image
// can be written out.
//
// A Holder keeps the current image in an atomic pointer: request handlers
// Load it without locking, the one goroutine applying committed records
// Publishes each new image.
package metadata

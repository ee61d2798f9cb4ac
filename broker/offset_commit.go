package broker

// OffsetCommit, versions 0-9 (v10 names topics by id and is not served).
//
// The coordinator checks the member and generation (a commit with
// generation -1 and no member id is a standalone commit, allowed while the
// group has no members), writes the offsets to __consumer_offsets and
// answers once they are durable: a commit that was answered survives a
// crash. Partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION,
// metadata longer than offset.metadata.max.bytes OFFSET_METADATA_TOO_LARGE.
// The retention time of v2-v4 is ignored (offsets.retention.minutes
// applies), as in Kafka since 2.1.

import "github.com/twmb/franz-go/pkg/kmsg"

func init() {
	registerAPI(apiHandler{key: kmsg.OffsetCommit.Int16(), minVersion: 0, maxVersion: 9, handle: handleOffsetCommit})
}

func handleOffsetCommit(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.OffsetCommitRequest)
	b.groups.CommitOffsets(msg, func(resp *kmsg.OffsetCommitResponse) { r.finish(resp) })
	return r
}

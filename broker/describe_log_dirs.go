package broker

// DescribeLogDirs, versions 0-5 (Kafka 3.x serves 0-4, Kafka 4.3 adds 5).
//
// One result per log dir, in log.dirs order, named by its absolute path,
// as Kafka's ReplicaManager.describeLogDirs answers: a dir that has failed
// (segment.LogDir.Failed: a write or sync of one of its logs failed) is
// KAFKA_STORAGE_ERROR with no topics and no sizes; otherwise it lists the
// requested partitions it holds (all of them when Topics is null), each
// with its size (bytes of whole batches in its segments), offset lag 0 (a
// single replica's log end is never behind its high watermark) and IsFuture
// false (no AlterReplicaLogDirs), and, from v4, the volume's total and
// usable bytes (statfs: f_blocks and f_bavail, as Java's FileStore
// reports them). Partitions asked for that the broker does not hold are
// left out, and a topic with no partition left is omitted. IsCordoned (v5,
// KIP-1066) is false: Runnel cannot cordon a dir. The top-level ErrorCode
// (v3+) is 0, since there is no authorization. The handler is blocking:
// statfs of a failing disk can take long.

import (
	"maps"
	"path/filepath"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/io/disk"
	"runnel/segment"
)

func init() {
	registerAPI(apiHandler{key: kmsg.DescribeLogDirs.Int16(), minVersion: 0, maxVersion: 5, handle: handleDescribeLogDirs, blocking: true})
}

func handleDescribeLogDirs(b *Broker, req *request) *reply {
	msg := req.msg.(*kmsg.DescribeLogDirsRequest)
	resp := msg.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	var want map[segment.TopicPartition]bool // nil: every partition
	if msg.Topics != nil {
		want = map[segment.TopicPartition]bool{}
		for _, t := range msg.Topics {
			for _, p := range t.Partitions {
				want[segment.TopicPartition{Topic: t.Topic, Partition: p}] = true
			}
		}
	}
	for _, d := range b.dirs {
		resp.Dirs = append(resp.Dirs, b.describeLogDir(d, want))
	}
	r := newReply()
	r.finish(resp)
	return r
}

// describeLogDir describes one log dir and the partitions of want it holds
// (nil want: all).
func (b *Broker) describeLogDir(d *logDir, want map[segment.TopicPartition]bool) kmsg.DescribeLogDirsResponseDir {
	rd := kmsg.NewDescribeLogDirsResponseDir()
	rd.Dir = d.path
	if abs, err := filepath.Abs(d.path); err == nil {
		rd.Dir = abs
	}
	if d.dir.Failed() != nil {
		rd.ErrorCode = kerr.KafkaStorageError.Code
		return rd
	}
	total, usable, err := disk.Usage(d.path)
	if err != nil {
		rd.ErrorCode = errCode(err)
		b.logger.Warn("describe log dirs: statfs failed", "dir", d.path, "err", err)
		return rd
	}
	rd.TotalBytes, rd.UsableBytes = total, usable

	byTopic := map[string][]kmsg.DescribeLogDirsResponseDirTopicPartition{}
	for tp, l := range d.dir.Logs() {
		if want != nil && !want[tp] {
			continue
		}
		p := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		p.Partition, p.Size = tp.Partition, l.Size()
		byTopic[tp.Topic] = append(byTopic[tp.Topic], p)
	}
	for _, name := range slices.Sorted(maps.Keys(byTopic)) {
		t := kmsg.NewDescribeLogDirsResponseDirTopic()
		t.Topic, t.Partitions = name, byTopic[name]
		slices.SortFunc(t.Partitions, func(x, y kmsg.DescribeLogDirsResponseDirTopicPartition) int { return int(x.Partition - y.Partition) })
		rd.Topics = append(rd.Topics, t)
	}
	return rd
}

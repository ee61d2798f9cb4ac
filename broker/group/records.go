package group

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The records of __consumer_offsets, in Kafka's schemas. The key's first
// int16 tells them apart: 0 and 1 are offset commits, 2 is group metadata.
// Runnel writes the versions Kafka 2.3 and later write.
const (
	offsetKeyVersion   = 1
	offsetValueVersion = 3
	groupKeyVersion    = 2
	groupValueVersion  = 3
)

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func offsetValue(o offset) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	v.Offset = o.offset
	v.LeaderEpoch = o.leaderEpoch
	v.Metadata = o.metadata
	v.CommitTimestamp = o.committed.UnixMilli()
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

// metadataValueLocked is the group's GroupMetadataValue: its generation,
// protocol, leader and members with their subscription (metadata of the
// chosen protocol) and assignment.
func (g *group) metadataValueLocked() []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		v.Protocol = kmsg.StringPtr(g.protocol)
	}
	if g.leader != "" {
		v.Leader = kmsg.StringPtr(g.leader)
	}
	v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	for _, m := range g.sortedMembersLocked() {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.id
		vm.InstanceID = m.instanceID
		vm.ClientID = m.clientID
		vm.ClientHost = m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout.Milliseconds())
		vm.SessionTimeoutMillis = int32(m.sessionTimeout.Milliseconds())
		vm.Subscription = m.metadata(g.protocol)
		vm.Assignment = m.assignment
		v.Members = append(v.Members, vm)
	}
	return v.AppendTo(nil)
}

// Record is one decoded record of __consumer_offsets: an offset commit
// (IsOffset: Group, Topic and Partition set) or group metadata (Topic
// empty). Offset or Metadata is nil for a tombstone. The coordinator
// replays these at startup and dump-log --offsets-decoder prints them: one
// decoder for both.
type Record struct {
	Group     string
	Topic     string
	Partition int32
	IsOffset  bool
	Offset    *kmsg.OffsetCommitValue
	Metadata  *kmsg.GroupMetadataValue
}

// DecodeRecord decodes a key and value of __consumer_offsets. Keys of
// versions it does not know (Kafka's transaction or share-group records
// would not be here) are an error the caller reports and skips.
func DecodeRecord(key, value []byte) (Record, error) {
	if len(key) < 2 {
		return Record{}, fmt.Errorf("group: key of %d bytes", len(key))
	}
	switch version := int16(binary.BigEndian.Uint16(key)); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return Record{}, fmt.Errorf("group: offset commit key: %w", err)
		}
		r := Record{Group: k.Group, Topic: k.Topic, Partition: k.Partition, IsOffset: true}
		if value != nil {
			v := new(kmsg.OffsetCommitValue)
			if err := v.ReadFrom(value); err != nil {
				return Record{}, fmt.Errorf("group: offset commit value for %s %s[%d]: %w", k.Group, k.Topic, k.Partition, err)
			}
			r.Offset = v
		}
		return r, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return Record{}, fmt.Errorf("group: group metadata key: %w", err)
		}
		r := Record{Group: k.Group}
		if value != nil {
			v := new(kmsg.GroupMetadataValue)
			if err := v.ReadFrom(value); err != nil {
				return Record{}, fmt.Errorf("group: group metadata value for %s: %w", k.Group, err)
			}
			r.Metadata = v
		}
		return r, nil
	default:
		return Record{}, fmt.Errorf("group: unknown key version %d", version)
	}
}

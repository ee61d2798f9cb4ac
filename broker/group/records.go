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

// record is one decoded record of __consumer_offsets: an offset commit
// (group, topic, partition set) or group metadata (topic empty); value is
// nil for a tombstone.
type record struct {
	group     string
	topic     string
	partition int32
	isOffset  bool
	offset    *kmsg.OffsetCommitValue
	metadata  *kmsg.GroupMetadataValue
}

// decodeRecord decodes a key and value of __consumer_offsets. Keys of
// versions it does not know (Kafka's transaction or share-group records
// would not be here) are an error the caller logs and skips.
func decodeRecord(key, value []byte) (record, error) {
	if len(key) < 2 {
		return record{}, fmt.Errorf("group: key of %d bytes", len(key))
	}
	switch version := int16(binary.BigEndian.Uint16(key)); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return record{}, fmt.Errorf("group: offset commit key: %w", err)
		}
		r := record{group: k.Group, topic: k.Topic, partition: k.Partition, isOffset: true}
		if value != nil {
			v := new(kmsg.OffsetCommitValue)
			if err := v.ReadFrom(value); err != nil {
				return record{}, fmt.Errorf("group: offset commit value for %s %s[%d]: %w", k.Group, k.Topic, k.Partition, err)
			}
			r.offset = v
		}
		return r, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return record{}, fmt.Errorf("group: group metadata key: %w", err)
		}
		r := record{group: k.Group}
		if value != nil {
			v := new(kmsg.GroupMetadataValue)
			if err := v.ReadFrom(value); err != nil {
				return record{}, fmt.Errorf("group: group metadata value for %s: %w", k.Group, err)
			}
			r.metadata = v
		}
		return r, nil
	default:
		return record{}, fmt.Errorf("group: unknown key version %d", version)
	}
}

package main

// dump-log --offsets-decoder: the records of __consumer_offsets, decoded
// by the group coordinator's own decoder (group.DecodeRecord) and printed
// as kafka-dump-log.sh's offsets parser prints them since Kafka 3.5: the
// key as {"type":…,"data":…} and the value as {"version":…,"data":…}, a
// tombstone's value as <DELETE>. Members' subscriptions and assignments
// are opaque bytes to the coordinator; their sizes are printed.

import (
	"encoding/binary"
	"encoding/json"
	"strconv"

	"runnel/broker/group"
)

// offsetCommitKeyJSON and groupMetadataKeyJSON are the two keys.
type offsetCommitKeyJSON struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

type groupMetadataKeyJSON struct {
	Group string `json:"group"`
}

// offsetCommitValueJSON holds the fields of an OffsetCommitValue of its
// version: leaderEpoch from v3, expireTimestamp in v1 only.
type offsetCommitValueJSON struct {
	Offset          int64  `json:"offset"`
	LeaderEpoch     *int32 `json:"leaderEpoch,omitempty"`
	Metadata        string `json:"metadata"`
	CommitTimestamp int64  `json:"commitTimestamp"`
	ExpireTimestamp *int64 `json:"expireTimestamp,omitempty"`
}

type groupMetadataValueJSON struct {
	ProtocolType          string            `json:"protocolType"`
	Generation            int32             `json:"generation"`
	Protocol              *string           `json:"protocol"`
	Leader                *string           `json:"leader"`
	CurrentStateTimestamp int64             `json:"currentStateTimestamp"`
	Members               []groupMemberJSON `json:"members"`
}

type groupMemberJSON struct {
	MemberID         string  `json:"memberId"`
	GroupInstanceID  *string `json:"groupInstanceId"`
	ClientID         string  `json:"clientId"`
	ClientHost       string  `json:"clientHost"`
	RebalanceTimeout int32   `json:"rebalanceTimeout"`
	SessionTimeout   int32   `json:"sessionTimeout"`
	SubscriptionSize int     `json:"subscriptionSize"`
	AssignmentSize   int     `json:"assignmentSize"`
}

// typedJSON is the envelope of a key (Type) or a value (Version).
type typedJSON struct {
	Type    string `json:"type,omitempty"`
	Version string `json:"version,omitempty"`
	Data    any    `json:"data"`
}

// offsetsRecordText is the key and payload --offsets-decoder prints for a
// record of __consumer_offsets.
func offsetsRecordText(key, value []byte) (keyText, payload string, err error) {
	r, err := group.DecodeRecord(key, value)
	if err != nil {
		return "", "", err
	}
	keyVersion := strconv.Itoa(int(int16(binary.BigEndian.Uint16(key)))) // DecodeRecord checked its length
	k := typedJSON{Type: keyVersion, Data: groupMetadataKeyJSON{Group: r.Group}}
	if r.IsOffset {
		k.Data = offsetCommitKeyJSON{Group: r.Group, Topic: r.Topic, Partition: r.Partition}
	}
	var v any
	switch {
	case r.IsOffset && r.Offset != nil:
		o := r.Offset
		data := offsetCommitValueJSON{Offset: o.Offset, Metadata: o.Metadata, CommitTimestamp: o.CommitTimestamp}
		if o.Version >= 3 {
			data.LeaderEpoch = &o.LeaderEpoch
		}
		if o.Version == 1 {
			data.ExpireTimestamp = &o.ExpireTimestamp
		}
		v = typedJSON{Version: strconv.Itoa(int(o.Version)), Data: data}
	case r.Metadata != nil:
		m := r.Metadata
		data := groupMetadataValueJSON{ProtocolType: m.ProtocolType, Generation: m.Generation, Protocol: m.Protocol,
			Leader: m.Leader, CurrentStateTimestamp: m.CurrentStateTimestamp, Members: []groupMemberJSON{}}
		for _, mm := range m.Members {
			data.Members = append(data.Members, groupMemberJSON{MemberID: mm.MemberID, GroupInstanceID: mm.InstanceID,
				ClientID: mm.ClientID, ClientHost: mm.ClientHost, RebalanceTimeout: mm.RebalanceTimeoutMillis,
				SessionTimeout: mm.SessionTimeoutMillis, SubscriptionSize: len(mm.Subscription), AssignmentSize: len(mm.Assignment)})
		}
		v = typedJSON{Version: strconv.Itoa(int(m.Version)), Data: data}
	default:
		return jsonText(k), "<DELETE>", nil
	}
	return jsonText(k), jsonText(v), nil
}

// jsonText marshals what cannot fail to marshal (strings and numbers).
func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

package metadata

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"runnel/segment"
)

// RecordType tells the records of the metadata log apart: the first byte of
// every record. The numbers are KRaft's apiKeys for the same records
// (metadata/src/main/resources/common/metadata/*.json), so that an operator
// who knows one log recognises the other; the encodings differ.
type RecordType uint8

// The record types. Part of the format: never renumber.
const (
	TypeRegisterBroker  RecordType = 0
	TypeTopic           RecordType = 2
	TypePartition       RecordType = 3
	TypeConfig          RecordType = 4
	TypePartitionChange RecordType = 5
	TypeFenceBroker     RecordType = 7
	TypeUnfenceBroker   RecordType = 8
	TypeRemoveTopic     RecordType = 9
	TypeProducerIDs     RecordType = 15
)

// latestVersion is the newest version of each record type this package
// reads and the one it writes. Part of the format (see doc.go for what a
// new version may change).
var latestVersion = map[RecordType]uint8{
	TypeRegisterBroker:  0,
	TypeTopic:           0,
	TypePartition:       1,
	TypeConfig:          0,
	TypePartitionChange: 1,
	TypeFenceBroker:     0,
	TypeUnfenceBroker:   0,
	TypeRemoveTopic:     0,
	TypeProducerIDs:     0,
}

func (t RecordType) String() string {
	switch t {
	case TypeRegisterBroker:
		return "RegisterBroker"
	case TypeTopic:
		return "Topic"
	case TypePartition:
		return "Partition"
	case TypeConfig:
		return "Config"
	case TypePartitionChange:
		return "PartitionChange"
	case TypeFenceBroker:
		return "FenceBroker"
	case TypeUnfenceBroker:
		return "UnfenceBroker"
	case TypeRemoveTopic:
		return "RemoveTopic"
	case TypeProducerIDs:
		return "ProducerIds"
	}
	return fmt.Sprintf("RecordType(%d)", uint8(t))
}

// Errors of decoding and encoding; Apply's errors are in image.go.
var (
	// ErrInvalidRecord: bytes that are not a record of this format (short,
	// trailing bytes, a bad length, flag or boolean). Wrapped with what and
	// where.
	ErrInvalidRecord = errors.New("metadata: invalid record")
	// ErrUnknownRecord: a record type or version this build does not know;
	// written by a newer Runnel (see doc.go).
	ErrUnknownRecord = errors.New("metadata: unknown record type or version")
)

// UUID is a 16-byte id as Kafka's Uuid: topic ids and broker incarnation
// ids. The zero UUID is no id.
type UUID [16]byte

// String formats the id as Kafka's Uuid.toString does: base64url without
// padding, 22 characters.
func (u UUID) String() string { return base64.RawURLEncoding.EncodeToString(u[:]) }

// MarshalText makes JSON show the id as String does (`runnel dump-log`
// prints records as JSON).
func (u UUID) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// Record is one metadata record: one of the *Record types of this package.
type Record interface {
	// Type is the record's type, the first byte of its encoding.
	Type() RecordType
	// version is the lowest version that holds the record's fields,
	// the one it is written in (doc.go, "Versions").
	version() uint8
	appendFields(e *encoder)
	decodeFields(d *decoder, version uint8)
}

// Security protocols of a listener, Kafka's SecurityProtocol ids.
const (
	ProtocolPlaintext     int16 = 0
	ProtocolSSL           int16 = 1
	ProtocolSASLPlaintext int16 = 2
	ProtocolSASLSSL       int16 = 3
)

// Listener is an endpoint a broker advertises: a listener name (PLAINTEXT,
// CONTROLLER, ...), host, port and security protocol.
type Listener struct {
	Name             string
	Host             string
	Port             uint16
	SecurityProtocol int16
}

// RegisterBrokerRecord registers a broker, or registers it again after a
// restart (a new incarnation and a higher epoch), as KRaft's
// RegisterBrokerRecord. A broker registers fenced and is unfenced once it
// has caught up with the metadata log.
type RegisterBrokerRecord struct {
	NodeID        int32
	IncarnationID UUID  // random per process start
	BrokerEpoch   int64 // the controller's epoch for this registration; rises on each
	Listeners     []Listener
	Rack          string // "" for none
	Fenced        bool
}

// FenceBrokerRecord fences a broker (no leader, no ISR member, not in
// Metadata), as KRaft's FenceBrokerRecord. BrokerEpoch must be the
// broker's registered epoch.
type FenceBrokerRecord struct {
	NodeID      int32
	BrokerEpoch int64
}

// UnfenceBrokerRecord unfences a broker, as KRaft's UnfenceBrokerRecord.
type UnfenceBrokerRecord struct {
	NodeID      int32
	BrokerEpoch int64
}

// TopicRecord creates a topic, as KRaft's TopicRecord. Its configs and
// partitions follow as ConfigRecords and PartitionRecords.
type TopicRecord struct {
	TopicID UUID
	Name    string
}

// NoLeader is a partition's leader when it has none (LEADER_NOT_AVAILABLE).
const NoLeader int32 = -1

// PartitionRecord creates a partition, as KRaft's PartitionRecord: the full
// replica list (placement order, the first is the preferred leader), the
// in-sync replicas, the leader (NoLeader for none) and its epochs. During a
// reassignment (KIP-455) AddingReplicas and RemovingReplicas name the
// replicas being added and removed (version 1; empty or nil otherwise).
type PartitionRecord struct {
	TopicID          UUID
	Partition        int32
	Replicas         []int32
	ISR              []int32
	Leader           int32
	LeaderEpoch      int32
	PartitionEpoch   int32
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// LeaderUnchanged in a PartitionChangeRecord keeps the leader, as KRaft's
// default Leader of -2.
const LeaderUnchanged int32 = -2

// PartitionChangeRecord changes a partition, as KRaft's
// PartitionChangeRecord: Replicas, ISR, AddingReplicas and RemovingReplicas
// when not nil (an empty, non-nil ISR is a change to no in-sync replica, an
// empty AddingReplicas ends the adding), Leader unless LeaderUnchanged.
// Unlike KRaft's, it carries the epochs the partition has after the change:
// PartitionEpoch must be the current one plus one, so a change computed
// from a stale partition is refused; LeaderEpoch rises when the leader
// changes.
type PartitionChangeRecord struct {
	TopicID        UUID
	Partition      int32
	Replicas       []int32 // nil: unchanged
	ISR            []int32 // nil: unchanged
	Leader         int32   // LeaderUnchanged, NoLeader or a node id
	LeaderEpoch    int32
	PartitionEpoch int32
	// The reassignment's replicas (version 1; nil: unchanged).
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// Config resource types, Kafka's ConfigResource.Type ids.
const (
	ResourceTopic  int8 = 2
	ResourceBroker int8 = 4
)

// ConfigRecord sets or deletes one config key of a resource, as KRaft's
// ConfigRecord: a topic (by name) or a broker (by node id in decimal, ""
// for the cluster-wide default).
type ConfigRecord struct {
	ResourceType int8
	ResourceName string
	Name         string
	Value        string // ignored when Deleted
	Deleted      bool
}

// RemoveTopicRecord deletes a topic with its partitions and configs, as
// KRaft's RemoveTopicRecord.
type RemoveTopicRecord struct {
	TopicID UUID
}

// ProducerIDsRecord reserves the block of producer ids below NextProducerID for broker
// BrokerID at BrokerEpoch (AllocateProducerIds, KIP-730), as KRaft's ProducerIdsRecord: the
// next block starts at NextProducerID, which rises with every record. A snapshot holds one
// with BrokerID and BrokerEpoch -1, as KRaft's.
type ProducerIDsRecord struct {
	BrokerID       int32
	BrokerEpoch    int64
	NextProducerID int64
}

// Type is RegisterBrokerRecord's type.
func (*RegisterBrokerRecord) Type() RecordType { return TypeRegisterBroker }

// Type is FenceBrokerRecord's type.
func (*FenceBrokerRecord) Type() RecordType { return TypeFenceBroker }

// Type is UnfenceBrokerRecord's type.
func (*UnfenceBrokerRecord) Type() RecordType { return TypeUnfenceBroker }

// Type is TopicRecord's type.
func (*TopicRecord) Type() RecordType { return TypeTopic }

// Type is PartitionRecord's type.
func (*PartitionRecord) Type() RecordType { return TypePartition }

// Type is PartitionChangeRecord's type.
func (*PartitionChangeRecord) Type() RecordType { return TypePartitionChange }

// Type is ConfigRecord's type.
func (*ConfigRecord) Type() RecordType { return TypeConfig }

// Type is RemoveTopicRecord's type.
func (*RemoveTopicRecord) Type() RecordType { return TypeRemoveTopic }

// Type is ProducerIDsRecord's type.
func (*ProducerIDsRecord) Type() RecordType { return TypeProducerIDs }

// Every record type but the partition's is at version 0.
func (*RegisterBrokerRecord) version() uint8 { return 0 }
func (*FenceBrokerRecord) version() uint8    { return 0 }
func (*UnfenceBrokerRecord) version() uint8  { return 0 }
func (*TopicRecord) version() uint8          { return 0 }
func (*ConfigRecord) version() uint8         { return 0 }
func (*RemoveTopicRecord) version() uint8    { return 0 }
func (*ProducerIDsRecord) version() uint8    { return 0 }

// version is 1 during a reassignment, else 0: a cluster that never
// reassigns writes what a build before version 1 reads.
func (r *PartitionRecord) version() uint8 {
	if len(r.AddingReplicas) > 0 || len(r.RemovingReplicas) > 0 {
		return 1
	}
	return 0
}

// version is 1 when the change sets the reassignment's replicas, else 0.
func (r *PartitionChangeRecord) version() uint8 {
	if r.AddingReplicas != nil || r.RemovingReplicas != nil {
		return 1
	}
	return 0
}

// newRecord returns an empty record of type t, nil for an unknown type.
func newRecord(t RecordType) Record {
	switch t {
	case TypeRegisterBroker:
		return new(RegisterBrokerRecord)
	case TypeFenceBroker:
		return new(FenceBrokerRecord)
	case TypeUnfenceBroker:
		return new(UnfenceBrokerRecord)
	case TypeTopic:
		return new(TopicRecord)
	case TypePartition:
		return new(PartitionRecord)
	case TypePartitionChange:
		return new(PartitionChangeRecord)
	case TypeConfig:
		return new(ConfigRecord)
	case TypeRemoveTopic:
		return new(RemoveTopicRecord)
	case TypeProducerIDs:
		return new(ProducerIDsRecord)
	}
	return nil
}

// maxLen bounds a string's bytes and an array's elements: their lengths
// are uint16 in the format.
const maxLen = 1<<16 - 1

// AppendRecord appends r's encoding (type, version, fields) to dst. It
// fails only for a string or array longer than the format holds (65535)
// or a string that is not UTF-8, leaving dst as it was.
func AppendRecord(dst []byte, r Record) ([]byte, error) {
	e := encoder{b: append(dst, byte(r.Type()), r.version())}
	r.appendFields(&e)
	if e.err != nil {
		return dst, fmt.Errorf("metadata: encoding %v: %w", r.Type(), e.err)
	}
	return e.b, nil
}

// DecodeRecord decodes one record that is all of b. It never panics; it
// fails with ErrUnknownRecord for a type or version it does not know and
// with ErrInvalidRecord for anything else that is not a record. Slices and
// strings of the result do not alias b.
func DecodeRecord(b []byte) (Record, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes, shorter than type and version", ErrInvalidRecord, len(b))
	}
	t, version := RecordType(b[0]), b[1]
	r := newRecord(t)
	if r == nil {
		return nil, fmt.Errorf("%w: type %d", ErrUnknownRecord, b[0])
	}
	if version > latestVersion[t] {
		return nil, fmt.Errorf("%w: %v version %d (this build reads up to %d)", ErrUnknownRecord, t, version, latestVersion[t])
	}
	d := decoder{b: b[2:], pos: 2}
	r.decodeFields(&d, version)
	if d.err == nil && len(d.b) > 0 {
		d.fail("end of record", fmt.Errorf("%d bytes after the last field", len(d.b)))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v: %w", ErrInvalidRecord, t, d.err)
	}
	return r, nil
}

// AppendBatch appends to dst one RecordBatch v2 (segment.BuildBatch) that
// carries records, each as the value of a Kafka record with a null key,
// timestamped ts (milliseconds). records must not be empty.
func AppendBatch(dst []byte, ts int64, records []Record) ([]byte, error) {
	if len(records) == 0 {
		return dst, errors.New("metadata: a batch needs at least one record")
	}
	kvs := make([]segment.KeyValue, len(records))
	var values []byte
	for i, r := range records {
		start := len(values)
		var err error
		if values, err = AppendRecord(values, r); err != nil {
			return dst, err
		}
		kvs[i].Value = values[start:len(values):len(values)]
	}
	return segment.BuildBatch(dst, ts, kvs), nil
}

// DecodeBatch decodes the single batch that is all of batch (as
// segment.Records checks it: CRC, lengths, record count) into its metadata
// records. A record with a key, headers or a null value is not one of
// ours: ErrInvalidRecord.
func DecodeBatch(batch []byte) ([]Record, error) {
	kafkaRecords, err := segment.Records(batch)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	out := make([]Record, 0, len(kafkaRecords))
	for _, kr := range kafkaRecords {
		if kr.Key != nil || len(kr.Headers) > 0 || kr.Value == nil {
			return nil, fmt.Errorf("%w: Kafka record at offset delta %d has a key, headers or a null value", ErrInvalidRecord, kr.Offset)
		}
		r, err := DecodeRecord(kr.Value)
		if err != nil {
			return nil, fmt.Errorf("record at offset delta %d: %w", kr.Offset, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// encoder appends big-endian fields; a sticky error records the first
// string or array too long for the format.
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) i8(v int8)    { e.b = append(e.b, byte(v)) }
func (e *encoder) u16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *encoder) i16(v int16)  { e.u16(uint16(v)) }
func (e *encoder) i32(v int32)  { e.b = binary.BigEndian.AppendUint32(e.b, uint32(v)) }
func (e *encoder) i64(v int64)  { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }
func (e *encoder) uuid(v UUID)  { e.b = append(e.b, v[:]...) }
func (e *encoder) boolean(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

func (e *encoder) length(n int, what string) bool {
	if n > maxLen {
		if e.err == nil {
			e.err = fmt.Errorf("%s of %d, more than %d", what, n, maxLen)
		}
		return false
	}
	e.u16(uint16(n))
	return true
}

func (e *encoder) str(s string) {
	if !utf8.ValidString(s) {
		if e.err == nil {
			e.err = fmt.Errorf("string %q is not UTF-8", s)
		}
		return
	}
	if e.length(len(s), "string") {
		e.b = append(e.b, s...)
	}
}

func (e *encoder) int32s(v []int32) {
	if e.length(len(v), "array") {
		for _, x := range v {
			e.i32(x)
		}
	}
}

// decoder reads big-endian fields with one sticky error: after the first
// failure every read returns zero, so decodeFields need not check each
// field. pos is the byte position in the record, for error messages.
type decoder struct {
	b   []byte
	pos int
	err error
}

func (d *decoder) fail(field string, err error) {
	if d.err == nil {
		d.err = fmt.Errorf("%s at byte %d: %w", field, d.pos, err)
	}
	d.b = nil
}

// take returns the next n bytes, or nil (and fails) when fewer are left.
func (d *decoder) take(n int, field string) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail(field, fmt.Errorf("needs %d bytes, %d left", n, len(d.b)))
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	d.pos += n
	return v
}

func (d *decoder) u8(field string) uint8 {
	if v := d.take(1, field); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) i8(field string) int8 { return int8(d.u8(field)) }

func (d *decoder) u16(field string) uint16 {
	if v := d.take(2, field); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) i16(field string) int16 { return int16(d.u16(field)) }

func (d *decoder) i32(field string) int32 {
	if v := d.take(4, field); v != nil {
		return int32(binary.BigEndian.Uint32(v))
	}
	return 0
}

func (d *decoder) i64(field string) int64 {
	if v := d.take(8, field); v != nil {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

func (d *decoder) uuid(field string) (u UUID) {
	copy(u[:], d.take(16, field))
	return u
}

// boolean reads a byte that must be 0 or 1, so that every accepted
// encoding is the one the encoder writes.
func (d *decoder) boolean(field string) bool {
	pos := d.pos
	switch v := d.u8(field); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.pos = pos
		d.fail(field, fmt.Errorf("boolean byte %d", v))
		return false
	}
}

// str reads a uint16 length and that many bytes of UTF-8.
func (d *decoder) str(field string) string {
	n := int(d.u16(field))
	pos := d.pos
	v := d.take(n, field)
	if d.err == nil && !utf8.Valid(v) {
		d.pos = pos
		d.fail(field, errors.New("not UTF-8"))
		return ""
	}
	return string(v)
}

// int32s reads a uint16 count and that many int32s; it checks the count
// against the bytes left before allocating, and returns a non-nil slice.
func (d *decoder) int32s(field string) []int32 {
	n := int(d.u16(field))
	raw := d.take(4*n, field)
	if d.err != nil {
		return nil
	}
	v := make([]int32, n)
	for i := range v {
		v[i] = int32(binary.BigEndian.Uint32(raw[4*i:]))
	}
	return v
}

func (r *RegisterBrokerRecord) appendFields(e *encoder) {
	e.i32(r.NodeID)
	e.uuid(r.IncarnationID)
	e.i64(r.BrokerEpoch)
	if e.length(len(r.Listeners), "listeners") {
		for _, l := range r.Listeners {
			e.str(l.Name)
			e.str(l.Host)
			e.u16(l.Port)
			e.i16(l.SecurityProtocol)
		}
	}
	e.str(r.Rack)
	e.boolean(r.Fenced)
}

func (r *RegisterBrokerRecord) decodeFields(d *decoder, _ uint8) {
	r.NodeID = d.i32("node id")
	r.IncarnationID = d.uuid("incarnation id")
	r.BrokerEpoch = d.i64("broker epoch")
	n := int(d.u16("listener count"))
	// A listener takes at least 8 bytes: do not trust the count further.
	if d.err == nil && n*8 > len(d.b) {
		d.fail("listener count", fmt.Errorf("%d listeners in %d bytes", n, len(d.b)))
	}
	if d.err == nil {
		r.Listeners = make([]Listener, n)
	}
	for i := range r.Listeners {
		l := &r.Listeners[i]
		l.Name = d.str("listener name")
		l.Host = d.str("listener host")
		l.Port = d.u16("listener port")
		l.SecurityProtocol = d.i16("listener security protocol")
	}
	r.Rack = d.str("rack")
	r.Fenced = d.boolean("fenced")
}

func (r *FenceBrokerRecord) appendFields(e *encoder) {
	e.i32(r.NodeID)
	e.i64(r.BrokerEpoch)
}

func (r *FenceBrokerRecord) decodeFields(d *decoder, _ uint8) {
	r.NodeID = d.i32("node id")
	r.BrokerEpoch = d.i64("broker epoch")
}

func (r *UnfenceBrokerRecord) appendFields(e *encoder) {
	e.i32(r.NodeID)
	e.i64(r.BrokerEpoch)
}

func (r *UnfenceBrokerRecord) decodeFields(d *decoder, _ uint8) {
	r.NodeID = d.i32("node id")
	r.BrokerEpoch = d.i64("broker epoch")
}

func (r *TopicRecord) appendFields(e *encoder) {
	e.uuid(r.TopicID)
	e.str(r.Name)
}

func (r *TopicRecord) decodeFields(d *decoder, _ uint8) {
	r.TopicID = d.uuid("topic id")
	r.Name = d.str("name")
}

func (r *PartitionRecord) appendFields(e *encoder) {
	e.uuid(r.TopicID)
	e.i32(r.Partition)
	e.int32s(r.Replicas)
	e.int32s(r.ISR)
	e.i32(r.Leader)
	e.i32(r.LeaderEpoch)
	e.i32(r.PartitionEpoch)
	if r.version() >= 1 {
		e.int32s(r.AddingReplicas)
		e.int32s(r.RemovingReplicas)
	}
}

func (r *PartitionRecord) decodeFields(d *decoder, version uint8) {
	r.TopicID = d.uuid("topic id")
	r.Partition = d.i32("partition")
	r.Replicas = d.int32s("replicas")
	r.ISR = d.int32s("isr")
	r.Leader = d.i32("leader")
	r.LeaderEpoch = d.i32("leader epoch")
	r.PartitionEpoch = d.i32("partition epoch")
	if version >= 1 {
		pos := d.pos
		r.AddingReplicas = d.int32s("adding replicas")
		r.RemovingReplicas = d.int32s("removing replicas")
		if d.err == nil && r.version() < 1 {
			d.pos = pos
			d.fail("adding replicas", errors.New("version 1 with no reassignment (written as version 0)"))
		}
	}
}

// Bits of a PartitionChangeRecord's flags byte: which optional arrays
// follow. Part of the format.
const (
	changeReplicas uint8 = 1 << 0
	changeISR      uint8 = 1 << 1
	changeKnown          = changeReplicas | changeISR
)

// Bits of a PartitionChangeRecord's second flags byte (version 1): which
// reassignment arrays follow. Part of the format.
const (
	changeAdding        uint8 = 1 << 0
	changeRemoving      uint8 = 1 << 1
	changeReassignKnown       = changeAdding | changeRemoving
)

func (r *PartitionChangeRecord) appendFields(e *encoder) {
	e.uuid(r.TopicID)
	e.i32(r.Partition)
	var flags uint8
	if r.Replicas != nil {
		flags |= changeReplicas
	}
	if r.ISR != nil {
		flags |= changeISR
	}
	e.u8(flags)
	if r.Replicas != nil {
		e.int32s(r.Replicas)
	}
	if r.ISR != nil {
		e.int32s(r.ISR)
	}
	e.i32(r.Leader)
	e.i32(r.LeaderEpoch)
	e.i32(r.PartitionEpoch)
	if r.version() >= 1 {
		var flags uint8
		if r.AddingReplicas != nil {
			flags |= changeAdding
		}
		if r.RemovingReplicas != nil {
			flags |= changeRemoving
		}
		e.u8(flags)
		if r.AddingReplicas != nil {
			e.int32s(r.AddingReplicas)
		}
		if r.RemovingReplicas != nil {
			e.int32s(r.RemovingReplicas)
		}
	}
}

func (r *PartitionChangeRecord) decodeFields(d *decoder, version uint8) {
	r.TopicID = d.uuid("topic id")
	r.Partition = d.i32("partition")
	pos := d.pos
	flags := d.u8("flags")
	if flags&^changeKnown != 0 {
		d.pos = pos
		d.fail("flags", fmt.Errorf("unknown bits %#x", flags&^changeKnown))
	}
	if flags&changeReplicas != 0 {
		r.Replicas = d.int32s("replicas")
	}
	if flags&changeISR != 0 {
		r.ISR = d.int32s("isr")
	}
	r.Leader = d.i32("leader")
	r.LeaderEpoch = d.i32("leader epoch")
	r.PartitionEpoch = d.i32("partition epoch")
	if version >= 1 {
		pos := d.pos
		flags := d.u8("reassignment flags")
		if d.err == nil && (flags&^changeReassignKnown != 0 || flags == 0) {
			d.pos = pos
			d.fail("reassignment flags", fmt.Errorf("bits %#x (version 1 sets bit 0 or 1, no other)", flags))
		}
		if flags&changeAdding != 0 {
			r.AddingReplicas = d.int32s("adding replicas")
		}
		if flags&changeRemoving != 0 {
			r.RemovingReplicas = d.int32s("removing replicas")
		}
	}
}

func (r *ConfigRecord) appendFields(e *encoder) {
	e.i8(r.ResourceType)
	e.str(r.ResourceName)
	e.str(r.Name)
	e.boolean(r.Deleted)
	if !r.Deleted {
		e.str(r.Value)
	}
}

func (r *ConfigRecord) decodeFields(d *decoder, _ uint8) {
	r.ResourceType = d.i8("resource type")
	r.ResourceName = d.str("resource name")
	r.Name = d.str("name")
	r.Deleted = d.boolean("deleted")
	if !r.Deleted {
		r.Value = d.str("value")
	}
}

func (r *RemoveTopicRecord) appendFields(e *encoder) { e.uuid(r.TopicID) }

func (r *RemoveTopicRecord) decodeFields(d *decoder, _ uint8) { r.TopicID = d.uuid("topic id") }

func (r *ProducerIDsRecord) appendFields(e *encoder) {
	e.i32(r.BrokerID)
	e.i64(r.BrokerEpoch)
	e.i64(r.NextProducerID)
}

func (r *ProducerIDsRecord) decodeFields(d *decoder, _ uint8) {
	r.BrokerID = d.i32("broker id")
	r.BrokerEpoch = d.i64("broker epoch")
	r.NextProducerID = d.i64("next producer id")
}

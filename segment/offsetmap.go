package segment

import (
	"hash/maphash"
)

// OffsetMap is the cleaner's map from a record key to the offset of the key's latest record in
// the part of the log being cleaned: Kafka's SkimpyOffsetMap. It stores a 128-bit hash of
// each key, never the key, in a fixed array of slots (open addressing, linear probing), so its
// memory is bounded by log.cleaner.dedupe.buffer.size whatever the keys' sizes. Two keys whose
// hashes collide count as one, as in Kafka (with 128 bits, never in practice).
//
// It is filled only up to LoadFactor of its slots (log.cleaner.io.buffer.load.factor, 0.9 in
// Kafka); the cleaner then stops reading the dirty section and cleans what it mapped.
// Not safe for concurrent use: each cleaner goroutine has its own.
type OffsetMap struct {
	seeds [2]maphash.Seed
	slots []offsetSlot // a power of two of them
	used  int
	limit int
}

// offsetSlot is one slot: the key's hash and offset+1 (0: free).
type offsetSlot struct {
	h1, h2 uint64
	next   int64
}

// OffsetMapSlotBytes is the memory one slot of an OffsetMap takes.
const OffsetMapSlotBytes = 24

// offsetMapLoadFactor is Kafka's log.cleaner.io.buffer.load.factor default.
const offsetMapLoadFactor = 0.9

// NewOffsetMap returns a map that may hold up to memory bytes of slots (at least 16 slots).
// Its slots are allocated on first use, as many as a clean needs (Reset).
func NewOffsetMap(memory int64) *OffsetMap {
	return &OffsetMap{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, limit: int(max(memory/OffsetMapSlotBytes, 16))}
}

// Reset empties the map and sizes it for up to keys keys, within its memory bound: a power of
// two of slots, so that a hash picks its first slot with a mask.
func (m *OffsetMap) Reset(keys int64) {
	want := 16
	for want*2 <= m.limit && int64(want)*9/10 < keys {
		want *= 2
	}
	if cap(m.slots) >= want {
		m.slots = m.slots[:want]
		clear(m.slots)
	} else {
		m.slots = make([]offsetSlot, want)
	}
	m.used = 0
}

// Capacity is how many keys the map takes before it counts as full.
func (m *OffsetMap) Capacity() int { return int(float64(len(m.slots)) * offsetMapLoadFactor) }

// Len is the number of distinct keys (hashes) in the map.
func (m *OffsetMap) Len() int { return m.used }

// Full reports whether n more keys might not fit.
func (m *OffsetMap) Full(n int) bool { return m.used+n > m.Capacity() }

func (m *OffsetMap) hash(key []byte) (uint64, uint64) {
	return maphash.Bytes(m.seeds[0], key), maphash.Bytes(m.seeds[1], key)
}

// Put records offset as key's latest offset (offsets are put in increasing order).
func (m *OffsetMap) Put(key []byte, offset int64) {
	h1, h2 := m.hash(key)
	mask := uint64(len(m.slots) - 1)
	for i := h1 & mask; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.next == 0 {
			*s = offsetSlot{h1: h1, h2: h2, next: offset + 1}
			m.used++
			return
		}
		if s.h1 == h1 && s.h2 == h2 {
			s.next = offset + 1
			return
		}
	}
}

// Get returns key's latest offset, or -1 when the key is not in the map.
func (m *OffsetMap) Get(key []byte) int64 {
	if len(m.slots) == 0 {
		return -1
	}
	h1, h2 := m.hash(key)
	mask := uint64(len(m.slots) - 1)
	for i := h1 & mask; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.next == 0 {
			return -1
		}
		if s.h1 == h1 && s.h2 == h2 {
			return s.next - 1
		}
	}
}

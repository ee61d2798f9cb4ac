package metadata

import (
	"hash/maphash"
	"iter"
)

// shardBits sets the number of shards of a shardMap: 256.
const shardBits = 8

// shardSeed hashes keys to shards; per process, as the maps are.
var shardSeed = maphash.MakeSeed()

// shardMap is an immutable map split into 256 shards by the key's hash, so
// that a copy with one key changed copies the shard table (2 KiB) and one
// shard, a 256th of the map, rather than the whole map: the image's
// topics, names and configs, which may have tens of thousands of keys.
// The zero shardMap is empty.
type shardMap[K comparable, V any] struct {
	shards *[1 << shardBits]map[K]V // nil when empty; never written once shared
	n      int
}

func shardOf[K comparable](k K) uint64 {
	return maphash.Comparable(shardSeed, k) >> (64 - shardBits)
}

func (m shardMap[K, V]) get(k K) (V, bool) {
	if m.shards == nil {
		var zero V
		return zero, false
	}
	v, ok := m.shards[shardOf(k)][k]
	return v, ok
}

func (m shardMap[K, V]) has(k K) bool {
	_, ok := m.get(k)
	return ok
}

func (m shardMap[K, V]) len() int { return m.n }

// all yields every key and value, in no particular order.
func (m shardMap[K, V]) all() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		if m.shards == nil {
			return
		}
		for _, s := range m.shards {
			for k, v := range s {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

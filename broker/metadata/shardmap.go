package metadata

import (
	"hash/maphash"
	"iter"
	"maps"
)

// shardBits sets the number of shards of a shardMap: 256.
const shardBits = 8

// shardSeed hashes keys to shards; per process, as the maps are.
var shardSeed = maphash.MakeSeed()

// shardMap is an immutable map split into 256 shards by the key's hash, so
// that a copy with one key changed copies the shard table (2 KiB) and one
// shard, an 256th of the map, rather than the whole map: the image's
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

// with returns a copy of m with k set to v.
func (m shardMap[K, V]) with(k K, v V) shardMap[K, V] {
	shards := new([1 << shardBits]map[K]V)
	if m.shards != nil {
		*shards = *m.shards
	}
	i := shardOf(k)
	n := m.n
	if _, ok := shards[i][k]; !ok {
		n++
	}
	shards[i] = with(shards[i], k, v)
	return shardMap[K, V]{shards: shards, n: n}
}

// without returns a copy of m without k (m itself if k is not there).
func (m shardMap[K, V]) without(k K) shardMap[K, V] {
	if !m.has(k) {
		return m
	}
	shards := new([1 << shardBits]map[K]V)
	*shards = *m.shards
	i := shardOf(k)
	shards[i] = without(shards[i], k)
	return shardMap[K, V]{shards: shards, n: m.n - 1}
}

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

// with returns a copy of m with k set to v.
func with[K comparable, V any](m map[K]V, k K, v V) map[K]V {
	c := make(map[K]V, len(m)+1)
	maps.Copy(c, m)
	c[k] = v
	return c
}

// without returns a copy of m without k.
func without[K comparable, V any](m map[K]V, k K) map[K]V {
	c := maps.Clone(m)
	delete(c, k)
	return c
}

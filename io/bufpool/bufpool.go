// Package bufpool keeps byte buffers by size class for any goroutine: one
// sync.Pool per power of two from MinSize to MaxSize. Both of the broker's
// transports read request frames into them (the std transport's reader
// and package netpoll's event loops), so a producer does not allocate and
// zero a buffer per request, while the garbage collector empties the
// pools, so a burst of large requests pins no memory for long.
//
// A buffer is kept in a holder (*[]byte) so that giving it back need not
// allocate one: Get returns the holder, and Put takes it back with the
// buffer.
package bufpool

import (
	"math/bits"
	"sync"
)

// The smallest and largest class sizes. A buffer for more than MaxSize
// bytes is not pooled.
const (
	MinSize = 1 << minLog // 512 B
	MaxSize = 1 << maxLog // 128 MiB

	minLog = 9
	maxLog = 27
)

var pools [maxLog - minLog + 1]sync.Pool // index: log2(size) - minLog

// ClassSize is the capacity of the buffers of the class that holds n
// bytes: the smallest power of two at least n and at least MinSize. ok is
// false when that is above MaxSize.
func ClassSize(n int) (size int, ok bool) {
	size = 1 << bits.Len(uint(max(n, MinSize)-1))
	return size, size <= MaxSize
}

// pool is the pool of buffers of capacity c, or nil when c is not a class
// size.
func pool(c int) *sync.Pool {
	if c < MinSize || c > MaxSize || c&(c-1) != 0 {
		return nil
	}
	return &pools[bits.Len(uint(c))-1-minLog]
}

// Get returns a free buffer of n bytes' class, emptied, in its holder; or
// nil when the class's pool has none or n is above MaxSize.
func Get(n int) *[]byte {
	size, ok := ClassSize(n)
	if !ok {
		return nil
	}
	p, _ := pool(size).Get().(*[]byte)
	return p
}

// Put gives b, emptied, to its class's pool for Get, in holder p (a new
// one when p is nil); b must not be used afterwards. A buffer whose
// capacity is not a class size is left to the garbage collector.
func Put(p *[]byte, b []byte) {
	pl := pool(cap(b))
	if pl == nil {
		return
	}
	if p == nil {
		p = new([]byte)
	}
	*p = b[:0]
	pl.Put(p)
}

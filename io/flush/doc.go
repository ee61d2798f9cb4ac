// Package flush makes appended log data durable with group commit.
//
// A Flusher owns one goroutine and a queue of waiters per Target (a partition log). A producer
// that needs durability (acks=all) appends to its log and calls Wait with the log's end offset;
// the flusher goroutine takes every waiter queued so far, calls the target's Sync once, and
// tells each waiter whose end offset is now durable. Waiters that arrive while a sync runs wait
// for the next round, which covers all of them with one more sync: under load, many appends share
// each fdatasync, so throughput follows the disk's bandwidth rather than its sync latency.
//
// Round by round, the flusher goroutine:
//
//  1. under the lock, takes every target that is due: it has waiters, or (Interval policy) it
//     reached FlushMessages appended messages or has held unsynced messages for FlushInterval.
//     A target synced less than MinInterval ago waits until the interval has passed.
//     For each, it notes how many waiters are queued: the sync will cover exactly those.
//  2. without the lock, calls Sync once per target, syncing up to SyncConcurrency targets at
//     once (helper goroutines take part; the file system can commit overlapping fdatasyncs of
//     different files together).
//  3. under the lock, picks the covered waiters to tell: all of them with the error if Sync
//     failed, otherwise those with end <= the durable end Sync returned. Covered waiters beyond
//     the durable end stay queued for a later round.
//  4. without the lock, calls their done functions.
//
// Lock order: Flusher.mu is the only lock. Target.Sync, OnSync and done functions are called
// without it; OnSync and done always from the flusher goroutine, Sync from it or a helper. They
// must not call Forget or Close (which wait for the flusher goroutine), but may call Wait and
// Appended.
//
// A failed sync fails the waiters it covered; the flusher tries again for later waiters. Whether
// data written before a failed fdatasync can still become durable is the target's business (on
// Linux it often cannot: the kernel may drop the dirty pages), so a Target should remember a
// failure and keep failing, or reopen and recover.
package flush

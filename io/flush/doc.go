// Package flush makes appended log data durable with group commit.
//
// A Flusher owns one goroutine and a queue of waiters per Target (a partition log). A producer
// that needs durability (acks=all) appends to its log and calls Wait with the log's end offset.
// The flusher goroutine starts one Sync of the target that covers every waiter queued so far,
// and when it returns tells each covered waiter whose end offset is now durable. Waiters that
// arrive while a sync runs wait for the next one, which covers all of them: under load many
// appends share each fdatasync, so throughput follows the disk's bandwidth rather than its
// sync latency.
//
// The flusher goroutine repeats:
//
//  1. under the lock, takes the notices that workers (and Forget) left, and calls OnSync and
//     the done functions without it.
//  2. under the lock, starts a sync of every target that is due and not syncing already:
//     it has waiters, or (Interval policy) reached FlushMessages appended messages or has held
//     unsynced messages for FlushInterval. A target synced less than MinInterval ago waits.
//     Started syncs go to SyncConcurrency worker goroutines, so syncs of different targets
//     overlap (a journaling file system commits overlapping fdatasyncs together; without a
//     journal the device's work still overlaps: results/2026-12-03-overlap) and one slow target
//     does not hold up the others; a target has at most one sync in flight.
//
// A worker finishes the sync it ran under the lock: the covered waiters (those queued before
// that sync started) get success if their end is within the durable end Sync returned, the rest
// stay queued for the next sync; if Sync failed, every waiter gets the error (see below), or
// only the covered ones when it is retriable. When waiters queued during the sync, the worker
// starts the target's next sync itself at once, so that the disk is not idle for two goroutine
// wake-ups and the notifying of the last sync's waiters, and leaves the notices to the flusher
// goroutine, which it wakes; it leaves the target to the flusher goroutine after Close and when
// enough targets are syncing or due to form a group sync. A worker that starts no next sync
// calls OnSync and the done functions itself, one wake-up fewer before a waiter hears; then it
// yields, as the flusher goroutine does after telling, so that waiters who wait again at once
// queue, and starts their target's next sync itself (chainLocked).
// Whichever goroutine tells holds Flusher.mu.telling: OnSync and done functions are called by
// one goroutine at a time, and while a worker tells, the flusher goroutine starts no syncs (the
// targets due meanwhile gather, as they do while it tells).
//
// A light load skips the flusher goroutine on the way in too: a Wait that finds it idle, and no
// target due, syncing or telling, hands its target's sync to a worker itself. A lone acks=all
// produce then waits for one goroutine wake-up before its fdatasync and one after it (a worker's,
// then the waiter's), not two each.
//
// Group syncs: with Config.SyncAll (syncfs(2) of the log dir's file system), when at least
// GroupMin GroupTargets are started at once, one worker prepares each of them (PrepareSync
// notes what its sync covers), calls SyncAll once and finishes each with its result: one
// journal commit for hundreds of partitions instead of one fdatasync each, whose fixed kernel
// cost dominates when each partition gets only a batch or two between syncs. While a group sync
// is in flight, GroupTargets that become due wait for it and form the next group, so the
// group size follows the number of active partitions the way waiters per sync follow the
// number of appenders. A failed SyncAll fails every target of its group, sticky as below; its
// owner must also fail everything it did not cover, because the kernel reports a writeback
// error to syncfs only once (segment.LogDir.SyncAll takes the directory offline).
//
// Syncs no one waits for: SyncSoon (the appends of acks 0 and 1 under the Durable policy,
// which consumers see once durable). With few partitions written it is a Wait that no one
// reads. Once GroupMin GroupTargets were asked within a second (many partitions written, with
// SyncAll), its targets gather for Config.SoonDelay, or until GroupMin of them, and are synced
// by one group sync whatever their number. Each of those syncs used to be a Wait, grouped only
// when GroupMin happened to be due at one instant: a disk whose syncs returned fast kept that
// count low, and 1,000 partitions on one fdatasync each (1.6× the CPU per byte and two thirds of
// the throughput of the grouped path on the same machine).
//
// Lock order: Flusher.mu is the only lock. Target.Sync, PrepareSync, finish and SyncAll (on a
// worker), OnSync and done functions (on the flusher goroutine or a worker) are called without it; they must
// not call Forget or Close (which wait for the flusher goroutine), but may call Wait and
// Appended.
//
// A failed sync is sticky: its waiters, those queued behind it and every later Wait on the
// target get its error, and the target is never synced again (until Forget). On Linux a
// failed fdatasync reports a writeback error once and may mark the dirty pages clean, so a
// retry can succeed without the data being on disk (PostgreSQL's "fsyncgate"); no retry may
// declare such data durable. A Target should also remember the failure itself, and recover by
// reopening from its last recovery point.
//
// The one exception is an error that Config.Retriable picks (a full disk: the sync wrote
// nothing and a later one may succeed). It fails only the waiters that sync covered; later
// waiters get a new sync, and the flusher does not log it (its owner does).
package flush

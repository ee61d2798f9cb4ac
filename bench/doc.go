// Package bench is the harness behind `make bench` and `runnel bench`: it
// runs a fixed matrix of loads (package loadgen) against a fresh Runnel and,
// under the identical load, against peers, and writes a report whose every
// headline figure is a ratio to a baseline measured in the same run. Its
// binary is cmd/runnel-bench, apart from the runnel binary, so that the
// server does not link the peers, the charts or the profile reader.
//
// The brokers are child processes on loopback: Runnel is `runnel serve`
// over a temporary data directory, a new one per scenario; the peers are
// the harness's own binary (`runnel-bench peer`) serving franz-go's kfake
// (in memory, one request loop) as the peer broker, or Sink, a
// minimal Kafka server that acks produce requests without storing them
// (it reads their framing and batch headers and discards the record
// bytes in the kernel), whose figures are the load generator's own
// ceiling. Keeping them out of
// the harness process keeps the load generator's allocations out of the
// broker's heap and CPU profiles, which are fetched from Runnel's admin
// listener (/debug/pprof/profile over the measurement, /debug/pprof/heap
// after it) and summarized with github.com/google/pprof/profile.
//
// Beside each run's throughput and latencies the harness records the
// broker's CPU time (utime + stime from /proc/<pid>/stat, sampled every
// 100 ms and interpolated to the load generator's measurement window) per
// GiB of record values moved in that window. The idle-connections
// scenario applies no load: it opens 10,000 connections (1,000 in the
// quick matrix), each set up by one ApiVersions round trip, holds them
// idle, and reads the broker's VmRSS (and for Runnel, after a forced GC,
// its Go heap and goroutines from /metrics) before and after. With
// Options.Transports the report compares the std and epoll transports
// figure by figure.
//
// The produce throughput scenarios send with loadgen's raw mode from two
// `runnel loadgen` processes (histograms merged exactly), and run against
// the sink too: its figure ÷ Runnel's is the generator's headroom in that
// scenario. The latency floor scenarios (1,000 and 10,000 records/s of
// 1 KiB, one producer, acks=all, linger 0) run beside TargetDiskFloor,
// the same records written with pwrite and made durable with fdatasync at
// the same rate in the harness process (floor.go); for Runnel's runs the
// harness reads /metrics before and after the load to split the mean
// latency into time outside the broker, in the broker, and in one sync
// (stages.go). --only runs a few scenarios, for an A/B. Where the sink
// ran, each broker's CPU per GiB is also divided by the sink's under the
// same load (sinkcpu.go).
//
// When produce-acks1 runs and kcat is on PATH, the harness sends that
// load again with librdkafka (kcat -P of a pre-made file, timed from
// kcat's start to its exit after the last ack, every record counted by
// end offsets) against a fresh Runnel and a sink, and sets kcat's figure
// beside the load generator's (crosscheck.go); without kcat the report
// says the check was skipped.
//
// The raw baselines are sequential 1 MiB pwrites to the page cache, with
// an fdatasync after each, and with an fdatasync every 16 MiB (the disk's
// sustained durable rate, what a perfect group commit reaches: the ceiling
// of acks=all appends on this disk), that last one with O_DIRECT (the disk
// without the page cache), the ingest ceiling (a sender streaming over
// loopback TCP to a receiver that writes and syncs as the sustained rate
// does: the most a broker and its client could take on these cores), and
// one loopback TCP stream. Each disk figure has the CPU seconds per GiB it
// took, and the report says whether the CPU or the disk bound the
// sustained rate.
//
// Output, in the results directory: report.md (machine, versions, command,
// baselines, headline ratios, std vs epoll when both ran, a table per
// scenario, hot spots), results.json (all of it, with per-second
// timelines), charts/*.svg (latency percentile curves and throughput over
// time, drawn with gonum/plot), hgrm/*.hgrm (HdrHistogram percentile
// distributions), profiles/ (Runnel's CPU and heap profiles, a flame
// graph of each CPU profile drawn by flame.go, and its goroutines halfway
// through each measurement) and logs/ of brokers that logged anything.
package bench

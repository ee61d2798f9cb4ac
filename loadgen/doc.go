// Package loadgen drives any Kafka-compatible broker with franz-go clients
// and measures throughput and latency honestly.
//
// Producers run either closed loop (as fast as the client accepts records)
// or open loop at a target rate. In open loop every record has an intended
// send time, start + i/rate, and its produce latency counts from that time,
// not from when the send loop got around to it: a broker that stalls for a
// second delays every record that was due during the stall, and each of
// them shows the delay (coordinated omission corrected). The send delay,
// actual minus intended send time, is reported beside it as the
// OpenMessaging Benchmark does, so a reader can tell a slow broker from a
// load generator that could not keep up.
//
// The intended send time travels in the first 8 bytes of each value
// (big-endian Unix nanoseconds); consumers, assigned partitions directly
// without a group, read it to measure end-to-end latency.
//
// Each producer and consumer records into its own HdrHistogram (µs, 1 µs
// to 1 min, 3 significant digits, values clamped into range); once a
// second the run drains them into the interval histograms, which feed the
// progress line and the timeline. The totals (produce, send delay and
// end-to-end latency) hold the records intended at or after the warm-up's
// end, whenever they were acked or consumed, so that the three describe
// the same records: counted by the time they completed, a stall in the
// warm-up reached the end-to-end totals (its records consumed after the
// warm-up) but not the produce ones (acked within it). Throughput counts
// what completed in the window.
//
// Raw mode (Config.Raw, raw.go) replaces the producer clients with plain
// connections that send one RecordBatch encoded once with kmsg, in Produce
// requests pipelined InFlight deep, so that the generator's cost per record
// is a write and a response decode, not franz-go's batching: it measures
// what a broker can take. Several generator processes share a load through
// WriteJSON, which keeps the histograms in HdrHistogram's encoding, then
// ReadResult and Merge.
package loadgen

package bench

import (
	"fmt"
	"time"

	"runnel/loadgen"
)

// Scenario is one row of the fixed matrix, run against each of Targets
// under the identical load.
type Scenario struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// Load is the load generator's configuration (brokers and topic are
	// filled in per run).
	Load loadgen.Config `json:"load"`
	// RateOf and RateFraction make an open-loop scenario: its rate is
	// RateFraction of the records/s Runnel reached in scenario RateOf.
	RateOf       string  `json:"rate_of,omitempty"`
	RateFraction float64 `json:"rate_fraction,omitempty"`
	// PreloadBytes are produced (closed loop, acks=1, 1 KiB) before the
	// measured load, which then reads them back: the catch-up scenario.
	PreloadBytes int64 `json:"preload_bytes,omitempty"`
	// Targets are the brokers run, Runnel first.
	Targets []string `json:"targets"`
	// Overrides are Runnel broker properties for this scenario.
	Overrides []string `json:"overrides,omitempty"`
	// Generators, above 1, runs the load from that many `runnel loadgen`
	// processes at once, their results merged (runGenerators).
	Generators int `json:"generators,omitempty"`
	// IdleConnections, when set, makes this the idle-connections
	// scenario: no load, but that many connections held open and idle
	// while the broker's memory is read (measureIdle).
	IdleConnections int `json:"idle_connections,omitempty"`
	// PairedWith and Pairs make a ratio that one run of each cannot
	// judge: right after this scenario's runs, Runnel runs PairedWith
	// (the denominator, which runs just before this scenario in the
	// matrix) and this scenario in turn, until there are Pairs pairs.
	// The report gives this ÷ PairedWith as the median pair's, with the
	// range of all (pairRatios).
	PairedWith string `json:"paired_with,omitempty"`
	Pairs      int    `json:"pairs,omitempty"`
}

// openLoop reports whether sc runs at a given rate (a latency scenario)
// rather than as fast as it can.
func (sc Scenario) openLoop() bool { return sc.RateOf != "" || sc.Load.Rate > 0 }

// ManyPartitions is the scenario with 1,000 partitions (100 in the quick
// matrix), and the prefix of ManyPartitions10k.
const ManyPartitions = "many-partitions"

// ManyPartitions10k is the same load over 10,000 partitions (1,000 in the
// quick matrix).
const ManyPartitions10k = ManyPartitions + "-10k"

// ManyPartitions8 is the same load over 8 partitions, the denominator of
// the many-partitions ratios: unlike produce-acks1 it has a consumer, whose
// fetches the broker serves from the same CPUs.
const ManyPartitions8 = ManyPartitions + "-8"

// ProduceAcksAllMany is produce-acksall's load over 1,000 partitions (100
// in the quick matrix). Its name starts with produce-acksall, so that
// `--only produce-acksall` runs both.
const ProduceAcksAllMany = "produce-acksall-many"

// ProduceAcksAllKeep is produce-acksall's load against a broker with
// runnel.segment.drop.behind=false (Kafka's way: its page cache keeps what
// it writes), which shows what the default drop-behind saves.
const ProduceAcksAllKeep = "produce-acksall-keep"

// LatencyMax is the closed-loop maximum of the latency scenarios' own load
// (franz-go's producers and a consumer) that its consumer keeps up with
// (loadgen.Config.MaxLag), whose records/s latency-25/50/75 take fractions
// of.
const LatencyMax = "latency-max"

// LatencyFloor prefixes the latency floor scenarios (latency-floor-1k,
// latency-floor-10k): Runnel at a fixed low rate beside TargetDiskFloor.
const LatencyFloor = "latency-floor"

// IdleConnections is the scenario that holds 10,000 idle connections
// (1,000 in the quick matrix).
const IdleConnections = "idle-connections"

// sizes scale the matrix: the full one for `make bench` (< 30 min on two
// cores), the quick one for `make bench-quick` (< 2 min).
type sizes struct {
	warmup, duration time.Duration
	preload          int64 // catch-up bytes
	diskBaseline     int64
	loopback         time.Duration
	partitions       int // of the many-partitions scenario
	partitions10k    int // of many-partitions-10k
	drain            time.Duration
	idleConnections  int
	// pairs10k are many-partitions-10k's pairs with many-partitions-8:
	// the ratio moved from 0.74x to 1.00x between single pairs of the same
	// binary (results/2026-12-04-10k-spread).
	pairs10k int
	// manyWarmup is the many-partitions series' warm-up: long enough for
	// the broker's page cache to reach its working set (each active log's
	// keep window, drop step and unsynced bytes: about 1.5 GB at 10,000
	// partitions, 0.5 GB at 8), so that the figures are the broker's
	// steady state. Until then each append writes into a page the page
	// cache has not used before; on a VM whose balloon reports free memory
	// to its host, the first touch of such a page faults in the host: at
	// 10,000 partitions the copy into the page cache cost 40x per byte
	// what it did at 8, and the broker produced 70-120 MB/s for the
	// 18-26 s the page cache grew, then 240-300 MB/s
	// (results/2026-12-05-s20-warmup). The report gives each pair's
	// warm-up throughput beside its figure.
	manyWarmup time.Duration
}

var (
	fullSizes = sizes{warmup: 3 * time.Second, duration: 20 * time.Second, preload: 2 << 30,
		diskBaseline: 1 << 30, loopback: 3 * time.Second, partitions: 1000, partitions10k: 10000, drain: 10 * time.Second,
		idleConnections: 10000, pairs10k: 3, manyWarmup: 30 * time.Second}
	quickSizes = sizes{warmup: time.Second, duration: 2 * time.Second, preload: 192 << 20,
		diskBaseline: 256 << 20, loopback: time.Second, partitions: 100, partitions10k: 1000, drain: 5 * time.Second,
		idleConnections: 1000, pairs10k: 2, manyWarmup: time.Second}
)

// matrix is the fixed set of scenarios.
func matrix(s sizes) []Scenario {
	base := func(size, partitions, producers, consumers int, acks string) loadgen.Config {
		c := loadgen.DefaultConfig()
		c.RecordSize, c.Partitions = size, partitions
		c.Producers, c.Consumers = producers, consumers
		c.Acks, c.Idempotent = acks, acks == "all"
		c.Warmup, c.Duration = s.warmup, s.duration
		c.DrainTimeout = s.drain
		return c
	}
	all := []string{TargetRunnel, TargetKfake}
	withSink := []string{TargetRunnel, TargetKfake, TargetSink}
	// The throughput scenarios send pre-encoded batches (loadgen's raw
	// mode) from two generator processes, so that the sink, the
	// generator's ceiling, stays well above what a broker takes. The
	// batches are a real client's under saturation (about 1 MB,
	// loadgen.ClientBatchBytes), the same for acks=1 and acks=all: the
	// broker's cost is per batch and per request, so smaller batches
	// would measure a load no client sends. 4 connections × 4 requests
	// in flight × 1 MB keep 16 MB unanswered, which at 10 ms per sync
	// allows 1.6 GB/s (Little's law).
	raw := func(c loadgen.Config) loadgen.Config {
		c.Raw, c.Connections, c.InFlight, c.Keys = true, 4, 4, 0
		c.BatchRecords = loadgen.ClientBatchRecords(c.RecordSize)
		return c
	}
	// The acks=all loads keep 8 requests in flight a connection, 32 MB a
	// generator: at 1,000 partitions a request waits about 20 ms (p50) for
	// its sync, and with 4 the window (16 MB a generator, 1.6 GB/s at
	// 20 ms for both) capped the scenario on a disk that takes 1.5 GB/s;
	// 8 gave 1.04x and 1.20x of 4 in two pairs of runs (issue 16).
	durable := func(partitions int) loadgen.Config {
		c := raw(base(1024, partitions, 2, 0, "all"))
		c.InFlight = 8
		return c
	}
	const generators = 2
	catchUp := base(1024, 8, 0, 2, "1")
	catchUp.FromStart, catchUp.Warmup, catchUp.Duration = true, 0, 0
	many := raw(base(1024, s.partitions, 2, 1, "1"))
	// The many-partitions series keeps its batches of 16 KiB, 8 in
	// flight, as its earlier runs: its figures are ratios between its own
	// scenarios, under the same load.
	many.BatchRecords, many.InFlight = 16, 8
	many.Warmup = s.manyWarmup
	many10k, many8 := many, many
	many10k.Partitions, many8.Partitions = s.partitions10k, 8
	scenarios := []Scenario{
		{Name: "produce-acks1", Title: "Max produce throughput, 1 KiB, 8 partitions, acks=1 (closed loop, raw batches)",
			Load: raw(base(1024, 8, 2, 0, "1")), Generators: generators, Targets: withSink},
		{Name: "produce-acksall", Title: "Max produce throughput, 1 KiB, 8 partitions, acks=all, durable fsync policy (closed loop, raw batches)",
			Load: durable(8), Generators: generators, Targets: withSink},
		// The same load against a broker that keeps all it writes in the
		// page cache (runnel.segment.drop.behind=false, Kafka's way): beside
		// the kept disk baseline, whose page cache grows as its does.
		{Name: ProduceAcksAllKeep, Title: "Max produce throughput, 1 KiB, 8 partitions, acks=all, durable fsync policy, runnel.segment.drop.behind=false (closed loop, raw batches)",
			Load: durable(8), Generators: generators, Targets: []string{TargetRunnel},
			Overrides: []string{"runnel.segment.drop.behind=false"}},
		{Name: ProduceAcksAllMany, Title: fmt.Sprintf("Max produce throughput, 1 KiB, %d partitions, acks=all, durable fsync policy (closed loop, raw batches to the partitions in turn)", s.partitions),
			Load: durable(s.partitions), Generators: generators, Targets: []string{TargetRunnel},
			// As in many-partitions: 1,000 logs each preallocating the
			// default 64 MiB ahead would reserve 64 GB of disk.
			Overrides: []string{"runnel.segment.preallocate.bytes=4194304"}},
		{Name: "small-100b", Title: "Small records: 100 B, 8 partitions, acks=1 (closed loop, raw batches)",
			Load: raw(base(100, 8, 2, 0, "1")), Generators: generators, Targets: withSink},
		{Name: "catch-up", Title: "Catch-up read of a log just preloaded, 1 KiB, 8 partitions, 2 consumers (Runnel keeps the newest runnel.segment.cache.keep.bytes of it in the page cache, by default, and reads the rest from disk)",
			Load: catchUp, PreloadBytes: s.preload, Targets: all},
	}
	// The latency scenarios' rates are fractions of the maximum their own
	// load reaches: franz-go's producers and a consumer, in the harness's
	// process, on the cores the broker runs on. produce-acksall's raw
	// batches from two processes with no consumer cost the generator a
	// fraction of that, so its maximum (346k-690k records/s on the 2-core
	// VM, doubled by drop-behind) was more than this client and consumer
	// could send and read at all: "50%" of it was an overload of the
	// harness, whose send delays and unread records were charged to the
	// broker's latency.
	//
	// Nor is the closed loop's maximum itself the load's when the
	// producers take the CPU the consumer needs: on the 2-core VM it
	// produced 514,000 records/s while its consumer read 125,000, and
	// latency-50 asked the consumer for twice what it had read
	// (results/2026-12-05-latency50-cpu). Its producers wait while the
	// consumer lags by more than maxLag records, so that its maximum is
	// the rate at which the whole load, producing and consuming, keeps up.
	latencyLoad := base(1024, 8, 2, 1, "all")
	const maxLag = 50000 // 50 MB: 0.1 s of records at 500,000 records/s
	latencyMax := latencyLoad
	latencyMax.MaxLag = maxLag
	scenarios = append(scenarios, Scenario{Name: LatencyMax,
		Title: fmt.Sprintf("Max throughput of the latency scenarios' load that its consumer keeps up with: 1 KiB, 8 partitions, acks=all, 2 franz-go producers and 1 consumer (closed loop; the producers wait while the consumer lags by more than %d records)", maxLag),
		Load:  latencyMax, Targets: []string{TargetRunnel}})
	for _, f := range []struct {
		name string
		frac float64
	}{{"latency-25", 0.25}, {"latency-50", 0.5}, {"latency-75", 0.75}} {
		scenarios = append(scenarios, Scenario{
			Name:  f.name,
			Title: "Latency at " + f.name[len("latency-"):] + "% of Runnel's acks=all maximum under the same load (" + LatencyMax + "), 1 KiB, 8 partitions, acks=all (open loop, 1 consumer)",
			Load:  latencyLoad, RateOf: LatencyMax, RateFraction: f.frac, Targets: all,
		})
	}
	for _, rate := range []int{1000, 10000} {
		floor := base(1024, 1, 1, 0, "all")
		floor.Linger, floor.Rate = 0, float64(rate)
		// The same with raw requests of one record each: what the client
		// (franz-go's producer) adds, against a client that adds nothing.
		rawFloor := raw(floor)
		// One record a request: 5 in flight, as a Kafka producer allows,
		// would cap it at 5 records per round trip (5,000/s at 1 ms).
		rawFloor.Connections, rawFloor.InFlight, rawFloor.BatchRecords = 1, 64, 1
		for _, f := range []struct {
			suffix, client string
			load           loadgen.Config
		}{{"", "franz-go's producer", floor}, {"-raw", "raw requests of one record", rawFloor}} {
			scenarios = append(scenarios, Scenario{
				Name: fmt.Sprintf("%s-%dk%s", LatencyFloor, rate/1000, f.suffix),
				Title: fmt.Sprintf("Latency floor: %d records/s of 1 KiB, 1 partition, 1 producer (%s), acks=all, linger 0 (open loop), "+
					"beside the disk's own pwrite+fdatasync latency at the same rate", rate, f.client),
				Load: f.load, Targets: []string{TargetRunnel, TargetDiskFloor},
			})
		}
	}
	scenarios = append(scenarios, Scenario{
		Name:  ManyPartitions8,
		Title: "8 partitions, 1 KiB, acks=1 (closed loop, raw batches to the partitions in turn, 1 consumer): the many-partitions load over 8",
		Load:  many8, Generators: generators, Targets: []string{TargetRunnel},
		Overrides: []string{"runnel.segment.preallocate.bytes=4194304"},
	}, Scenario{
		Name:  ManyPartitions10k,
		Title: fmt.Sprintf("%d partitions, 1 KiB, acks=1 (closed loop, raw batches to the partitions in turn, 1 consumer)", s.partitions10k),
		Load:  many10k, Generators: generators, Targets: []string{TargetRunnel, TargetSink},
		PairedWith: ManyPartitions8, Pairs: s.pairs10k,
		// Every partition reserves its two index files and its first
		// preallocation at creation: at the defaults (10 MiB each, 64 MiB)
		// 10,000 of them would reserve 840 GB; with these, 2.5 GB.
		Overrides: []string{"runnel.segment.preallocate.bytes=131072", "log.index.size.max.bytes=65536"},
	}, Scenario{
		Name:  ManyPartitions,
		Title: fmt.Sprintf("%d partitions, 1 KiB, acks=1 (closed loop, raw batches to the partitions in turn, 1 consumer)", s.partitions),
		Load:  many, Generators: generators, Targets: withSink,
		// 1,000 logs each preallocating the default 64 MiB ahead would
		// reserve 64 GB of disk.
		Overrides: []string{"runnel.segment.preallocate.bytes=4194304"},
	}, Scenario{
		Name:            IdleConnections,
		Title:           fmt.Sprintf("Broker memory with %d idle connections", s.idleConnections),
		IdleConnections: s.idleConnections, Targets: all,
	})
	return scenarios
}

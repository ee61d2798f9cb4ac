package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"runnel/cmd/internal/cli"
	"runnel/loadgen"
)

func loadgenCommand() *cobra.Command {
	cfg := loadgen.DefaultConfig()
	var (
		bootstrap, jsonPath, hgrmDir string
		quiet                        bool
	)
	cmd := &cobra.Command{
		Use:   "loadgen",
		Short: "Produce and consume against any Kafka-compatible broker; report throughput and latency",
		Long: `Run producers and consumers against a Kafka-compatible broker and report
records/s, MB/s (10^6 bytes of values), produce latency (send to ack) and
end-to-end latency (send to a consumer receiving it) at p50..p99.99 and max.

--rate R (records/s over all producers) runs open loop: latency counts from
each record's intended send time, so stalls are not hidden (coordinated
omission), and the send delay (actual minus intended) is reported too.
--rate 0 runs closed loop, as fast as the client accepts records.
Consumers are assigned partitions directly (no consumer group).`,
		Example: `  runnel loadgen --bootstrap-server localhost:9092 --topic t --partitions 8 \
    --producers 2 --consumers 1 --record-size 1024 --rate 20000 --acks all \
    --duration 30s --warmup 5s --json out.json --hgrm-dir hgrm/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Brokers = strings.Split(bootstrap, ",")
			if !cmd.Flags().Changed("idempotent") {
				cfg.Idempotent = cfg.Acks == "all" || cfg.Acks == "-1"
			}
			if !quiet && os.Getenv("CI") != "true" && cli.IsTerminal(os.Stderr) {
				cfg.Progress = os.Stderr
			}
			res, err := loadgen.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			fmt.Print(res.Summary())
			if jsonPath != "" {
				if err := res.WriteJSON(jsonPath); err != nil {
					return err
				}
			}
			if hgrmDir != "" {
				if err := os.MkdirAll(hgrmDir, 0o755); err != nil {
					return err
				}
				if _, err := res.WriteHgrms(hgrmDir, ""); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&bootstrap, "bootstrap-server", "localhost:9092", "broker host:port list, comma separated")
	f.StringVar(&cfg.Topic, "topic", cfg.Topic, "topic (created if missing)")
	f.IntVar(&cfg.Partitions, "partitions", cfg.Partitions, "partitions of the topic if it is created (0: broker default)")
	f.IntVar(&cfg.Producers, "producers", cfg.Producers, "producer clients")
	f.IntVar(&cfg.Consumers, "consumers", cfg.Consumers, "consumer clients (partitions assigned directly)")
	f.IntVar(&cfg.RecordSize, "record-size", cfg.RecordSize, "value bytes (at least 8)")
	f.IntVar(&cfg.RecordSizeMax, "record-size-max", 0, "if above --record-size, value sizes are uniform between the two")
	f.IntVar(&cfg.Keys, "keys", 0, "key cardinality (0: no keys)")
	f.IntVar(&cfg.Headers, "headers", 0, "headers per record")
	f.DurationVar(&cfg.Linger, "linger", cfg.Linger, "producer linger")
	f.IntVar(&cfg.BatchBytes, "batch-bytes", 0, "max batch bytes (0: client default, 1 MB)")
	f.StringVar(&cfg.Acks, "acks", cfg.Acks, "all, 1 or 0")
	f.StringVar(&cfg.Compression, "compression", cfg.Compression, "none, gzip, snappy, lz4 or zstd")
	f.BoolVar(&cfg.Idempotent, "idempotent", true, "idempotent producer (default: on with acks=all)")
	f.IntVar(&cfg.MaxBuffered, "max-buffered", 0, "records a producer may have awaiting acks (0: client default, 50,000 in franz-go v1.22)")
	f.Int64Var(&cfg.MaxLag, "max-lag", 0, "closed loop: producers wait while more than this many records sent are not yet consumed, so the loop runs at the rate producing and consuming sustain together (0: no bound)")
	f.BoolVar(&cfg.Raw, "raw", false, "send pre-encoded record batches over plain connections, pipelined, with no client batching (the generator's own cost stays low; no end-to-end latency)")
	f.IntVar(&cfg.Connections, "connections", 0, "raw: connections (0: --producers)")
	f.IntVar(&cfg.InFlight, "in-flight", 0, "raw: requests in flight per connection (0: 5)")
	f.IntVar(&cfg.BatchRecords, "batch-records", 0, "raw: records per batch (0: as many as fill 1 MB, what librdkafka and franz-go send under saturation)")
	f.Float64Var(&cfg.Rate, "rate", 0, "records/s over all producers (0: as fast as possible, closed loop)")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measurement time (0: until --records)")
	f.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "warm-up before measuring")
	f.Int64Var(&cfg.Records, "records", 0, "stop after producing this many records (0: by --duration)")
	f.BoolVar(&cfg.FromStart, "from-start", false, "consumers read from the log start (catch-up; no end-to-end latency)")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "how long consumers read on after producing stops")
	f.StringVar(&jsonPath, "json", "", "write the result as JSON to this file")
	f.StringVar(&hgrmDir, "hgrm-dir", "", "write produce/send-delay/e2e .hgrm percentile files into this directory")
	f.BoolVar(&quiet, "quiet", false, "no progress line (also off when stderr is not a terminal or CI=true)")
	return cmd
}

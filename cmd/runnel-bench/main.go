// Command runnel-bench is the benchmark harness behind `make bench` and
// `runnel bench` (package bench). It is a binary of its own so that the
// peers and the report's charts and profile reader (kfake, gonum/plot,
// github.com/google/pprof/profile) stay out of the runnel binary, which
// `runnel bench` finds it beside (or on PATH) and runs.
//
//	runnel-bench --quick --out results/quick
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"runnel/bench"
	"runnel/cmd/internal/cli"
)

func main() {
	if os.Getenv(bench.FreezeProbeEnv) == "1" {
		bench.FreezeProbeMain()
		return
	}
	if err := benchCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "runnel-bench:", err)
		os.Exit(1)
	}
}

func benchCommand() *cobra.Command {
	var opts bench.Options
	cmd := &cobra.Command{
		Use:   "runnel-bench",
		Short: "Run the benchmark matrix against fresh brokers and write a report",
		Long: `Run the fixed benchmark matrix (max produce throughput with acks=1 and
acks=all, small records, catch-up reads, latency at 25/50/75% of the maximum their own client and consumer reach,
1,000 partitions, 10,000 idle connections) against a fresh Runnel (--runnel's
serve, a child process on loopback over a temporary data directory)
and, under the identical load,
against franz-go's kfake and a kfake sink that acks without storing (the load
generator's ceiling). Raw disk and loopback baselines are measured in the same
run and every headline figure is printed as a ratio to its baseline. Each run
also gives the broker's CPU seconds per GiB moved; the idle-connections
scenario gives its memory per connection.

Writes report.md, results.json, SVG charts, .hgrm files, Runnel's CPU and heap
profiles and broker logs into --out.

` + "`runnel bench [flags]`" + ` runs this binary with the same flags.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			opts.Self = self
			if opts.Runnel == "" {
				if opts.Runnel, err = cli.FindBinary("runnel"); err != nil {
					return fmt.Errorf("%w: build it with `make build` (bin/runnel) or give its path with --runnel", err)
				}
			}
			if opts.OutDir == "" {
				host, _ := os.Hostname()
				opts.OutDir = filepath.Join("results", time.Now().Format("2006-01-02")+"-"+host)
			}
			if opts.Command == "" {
				opts.Command = strings.Join(os.Args, " ")
			}
			opts.Log = os.Stderr
			if os.Getenv("CI") != "true" && cli.IsTerminal(os.Stderr) {
				opts.Progress = os.Stderr
			}
			rep, err := bench.Run(cmd.Context(), opts)
			if rep != nil && err == nil {
				fmt.Fprintf(os.Stderr, "report: %s\n", filepath.Join(opts.OutDir, "report.md"))
				for _, h := range bench.Headlines(rep) {
					fmt.Printf("%-45s %12.2f %-9s %-32s %12.2f  ratio %.2f\n", h.Figure, h.Value, h.Unit, h.Baseline, h.BaseValue, h.Ratio)
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.OutDir, "out", "", "results directory (default results/<date>-<host>)")
	f.BoolVar(&opts.Quick, "quick", false, "short runs and a small catch-up log (under 2 minutes)")
	f.BoolVar(&opts.Transports, "transports", false, "also run every scenario against a Runnel on the std transport (runnel.net=std; the default is epoll), at the same rates")
	f.StringArrayVar(&opts.RunnelOverrides, "override", nil, "an extra key=value property for every Runnel broker started (e.g. runnel.net=std), repeatable")
	f.StringSliceVar(&opts.Only, "only", nil, "run only the scenarios whose names start with one of these, comma separated (e.g. latency-floor; a name ending in $ is matched whole: many-partitions$), with those their rates derive from")
	f.StringVar(&opts.WorkDir, "work-dir", "", "where brokers keep their data and the disk baseline writes (default: the temp directory)")
	f.StringVar(&opts.Runnel, "runnel", "", "the runnel binary whose serve is measured (default: runnel beside this binary, else on PATH)")
	f.StringVar(&opts.Command, "command", "", "the command line the report names (default: this one); `runnel bench` passes its own")
	_ = f.MarkHidden("command")

	var kind string
	var port int
	peer := &cobra.Command{
		Use:    "peer",
		Short:  "Serve a kfake peer broker (kfake) or sink (sink, or sink-librdkafka for librdkafka's producers) on 127.0.0.1 until SIGTERM",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE:   func(*cobra.Command, []string) error { return bench.ServePeer(kind, port) },
	}
	peer.Flags().StringVar(&kind, "kind", bench.TargetKfake, "kfake, sink or sink-librdkafka")
	peer.Flags().IntVar(&port, "port", 9092, "port to listen on")
	cmd.AddCommand(peer)
	cmd.CompletionOptions.DisableDefaultCmd = true
	return cmd
}

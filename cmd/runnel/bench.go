package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"runnel/bench"
)

func benchCommand() *cobra.Command {
	var opts bench.Options
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run the benchmark matrix against fresh brokers and write a report",
		Long: `Run the fixed benchmark matrix (max produce throughput with acks=1 and
acks=all, small records, catch-up reads, latency at 25/50/75% of the maximum,
1,000 partitions, 10,000 idle connections) against a fresh Runnel (this
binary's serve, a child process on loopback over a temporary data directory)
and, under the identical load,
against franz-go's kfake and a kfake sink that acks without storing (the load
generator's ceiling). Raw disk and loopback baselines are measured in the same
run and every headline figure is printed as a ratio to its baseline. Each run
also gives the broker's CPU seconds per GiB moved; the idle-connections
scenario gives its memory per connection.

Writes report.md, results.json, SVG charts, .hgrm files, Runnel's CPU and heap
profiles and broker logs into --out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			opts.Self = self
			if opts.OutDir == "" {
				host, _ := os.Hostname()
				opts.OutDir = filepath.Join("results", time.Now().Format("2006-01-02")+"-"+host)
			}
			opts.Command = strings.Join(os.Args, " ")
			opts.Log = os.Stderr
			if os.Getenv("CI") != "true" && progressTerminal(os.Stderr) {
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
	f.StringVar(&opts.WorkDir, "work-dir", "", "where brokers keep their data and the disk baseline writes (default: the temp directory)")

	var kind string
	var port int
	peer := &cobra.Command{
		Use:    "peer",
		Short:  "Serve a kfake peer broker (kfake) or sink (sink) on 127.0.0.1 until SIGTERM",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE:   func(*cobra.Command, []string) error { return bench.ServePeer(kind, port) },
	}
	peer.Flags().StringVar(&kind, "kind", bench.TargetKfake, "kfake or sink")
	peer.Flags().IntVar(&port, "port", 9092, "port to listen on")
	cmd.AddCommand(peer)
	return cmd
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"runnel/cmd/internal/cli"
)

// benchBinary is the harness's binary (cmd/runnel-bench), kept apart so
// that the server does not link the benchmark's peers, charts and profile
// reader.
const benchBinary = "runnel-bench"

func benchCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "bench [flags]",
		Short: "Run the benchmark matrix against fresh brokers and write a report (runs runnel-bench)",
		Long: `Run the benchmark harness, the runnel-bench binary, with the given flags
against this binary's serve: the fixed matrix against a fresh Runnel and,
under the identical load, against franz-go's kfake and a sink, with raw disk
and loopback baselines (` + "`runnel bench --help`" + ` lists the flags).

runnel-bench is looked for beside this binary, then on PATH; ` + "`make build`" + `
builds both into bin/.`,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			harness, err := cli.FindBinary(benchBinary)
			if err != nil {
				return fmt.Errorf("bench runs the %[1]s binary: %[2]w; build it with `make build` (bin/%[1]s beside bin/runnel) or `go build -o %[3]s ./cmd/%[1]s`",
					benchBinary, err, filepath.Join(filepath.Dir(self), benchBinary))
			}
			// Exec, not a child: signals, the terminal and the exit status
			// are the harness's, as when it was part of this binary.
			argv := append([]string{benchBinary, "--runnel", self, "--command", strings.Join(os.Args, " ")}, args...)
			return syscall.Exec(harness, argv, os.Environ())
		},
	}
}

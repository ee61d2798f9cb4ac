package main

// What the console tools (topics, produce, consume, groups) share: the
// --bootstrap-server flag, a client that fails fast and clearly when no
// broker answers, and the translation of Kafka's per-item errors.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// defaultBootstrap is Kafka's conventional address, the default of
	// --bootstrap-server.
	defaultBootstrap = "localhost:9092"
	// bootstrapEnv, when set, replaces defaultBootstrap: the README's
	// commands run unchanged against a test broker on a free port.
	bootstrapEnv = "RUNNEL_BOOTSTRAP_SERVER"

	// connectTimeout bounds the first contact with the cluster: a tool
	// with no broker to talk to says so within this time rather than
	// retrying quietly.
	connectTimeout = 10 * time.Second
	// requestTimeout bounds each admin operation after the first contact.
	requestTimeout = 30 * time.Second
)

// addBootstrapFlag registers --bootstrap-server on cmd (persistent, so a
// command group's subcommands inherit it).
func addBootstrapFlag(cmd *cobra.Command, bootstrap *string) {
	def := defaultBootstrap
	if v := os.Getenv(bootstrapEnv); v != "" {
		def = v
	}
	cmd.PersistentFlags().StringVar(bootstrap, "bootstrap-server", def,
		"host:port[,host:port...] of brokers to start from ($"+bootstrapEnv+" overrides the default)")
}

// connect returns a client seeded with the comma-separated bootstrap list
// after checking, within connectTimeout, that a broker answers. Callers
// Close it.
func connect(ctx context.Context, bootstrap string, opts ...kgo.Opt) (*kgo.Client, error) {
	var seeds []string
	for s := range strings.SplitSeq(bootstrap, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, errors.New("--bootstrap-server: no broker address given")
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.DialTimeout(connectTimeout / 2),
		kgo.ClientID("runnel-console"),
		// The tools act on what they are told right away; kgo's default
		// 5 s would hide a topic created a moment ago.
		kgo.MetadataMinAge(100 * time.Millisecond),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := cl.Ping(pingCtx); err != nil {
		cl.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cannot reach a broker at %s: %w (is one running? start it with 'runnel serve')", bootstrap, err)
	}
	return cl, nil
}

// openAdmin connects an admin client for one admin command and gives the
// context that bounds its work (requestTimeout); done closes both.
func openAdmin(cmd *cobra.Command, bootstrap string) (*kadm.Client, context.Context, func(), error) {
	cl, err := connect(cmd.Context(), bootstrap)
	if err != nil {
		return nil, nil, nil, err
	}
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(cmd.Context(), requestTimeout)
	return adm, ctx, func() { cancel(); adm.Close() }, nil
}

// itemError joins a per-item Kafka error (a topic's, a group's) with the
// broker's message for it, if any.
func itemError(err error, message string) error {
	if err == nil || message == "" || strings.Contains(err.Error(), message) {
		return err
	}
	return fmt.Errorf("%w: %s", err, message)
}

// flagErrorHint makes a bad flag's error point at the command's help
// (main prints errors without the usage text).
func flagErrorHint(cmd *cobra.Command, err error) error {
	return fmt.Errorf("%w\nRun '%s --help' for usage.", err, cmd.CommandPath())
}

// requireSubcommand is the RunE of a command group (topics, groups): a
// missing or unknown subcommand is an error for scripts to see, not the
// help text with exit status 0.
func requireSubcommand(cmd *cobra.Command, args []string) error {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	what := "missing subcommand"
	if len(args) > 0 {
		what = fmt.Sprintf("unknown subcommand %q", args[0])
	}
	return fmt.Errorf("%s for '%s' (one of: %s)\nRun '%s --help' for usage.", what, cmd.CommandPath(), strings.Join(names, ", "), cmd.CommandPath())
}

// parseKeyValues parses repeated key=value flags (--config, --property)
// into a map, in order; flag names the flag for error messages.
func parseKeyValues(flag string, pairs []string) (map[string]string, error) {
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--%s %q: want key=value", flag, p)
		}
		m[strings.TrimSpace(k)] = v
	}
	return m, nil
}

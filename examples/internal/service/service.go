// Package service is what the example services share around their work:
// the flags every one takes (--brokers, --json), its logger, and a context
// that SIGTERM and SIGINT end, so that each service stops cleanly. It
// creates the topics before a service starts, whichever starts first.
package service

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"runnel/examples/events"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Env is what a service is given to run.
type Env struct {
	Brokers []string     // the seed brokers, host:port
	Log     *slog.Logger // to stderr, text or JSON lines (--json)
	// Partitions is the orders topic's partition count: --partitions if
	// this service created it.
	Partitions int32
}

// Run parses the command line with the common flags and those define adds,
// then runs body until it returns; body's ctx is done at SIGTERM or SIGINT.
// An error from body is logged and the process exits with status 1.
func Run(name, usage string, define func(*flag.FlagSet), body func(ctx context.Context, env Env) error) {
	flags := flag.NewFlagSet(name, flag.ExitOnError)
	flags.Usage = func() {
		fmt.Fprintf(flags.Output(), "%s: %s\n\nFlags:\n", name, usage)
		flags.PrintDefaults()
	}
	brokers := flags.String("brokers", "localhost:9092", "the seed brokers, comma-separated host:port")
	partitions := flags.Int("partitions", 6, "partitions of the orders topic, if this service creates it")
	jsonLog := flags.Bool("json", false, "log JSON lines (what the end-to-end test reads) instead of text")
	if define != nil {
		define(flags)
	}
	_ = flags.Parse(os.Args[1:]) // ExitOnError
	options := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && !*jsonLog {
			return slog.String(slog.TimeKey, a.Value.Time().Format("15:04:05.000"))
		}
		return a
	}}
	var handler slog.Handler = slog.NewTextHandler(os.Stderr, options)
	if *jsonLog {
		handler = slog.NewJSONHandler(os.Stderr, options)
	}
	log := slog.New(handler).With("service", name)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	start := time.Now()
	env := Env{Brokers: strings.Split(*brokers, ","), Log: log}
	err := createTopics(ctx, &env, int32(*partitions))
	if err == nil {
		err = body(ctx, env)
	}
	if err != nil {
		log.Error("stopped", "err", err)
		os.Exit(1)
	}
	log.Info("stopped", "ran", time.Since(start).Round(time.Millisecond))
}

// createTopics creates the order flow's topics unless they exist, and sets
// env.Partitions.
func createTopics(ctx context.Context, env *Env, partitions int32) error {
	client, err := kgo.NewClient(kgo.SeedBrokers(env.Brokers...))
	if err != nil {
		return err
	}
	defer client.Close()
	env.Partitions, err = events.CreateTopics(ctx, kadm.NewClient(client), partitions)
	return err
}

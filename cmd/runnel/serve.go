package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"runnel/broker"
)

func serveCommand() *cobra.Command {
	var (
		configPath string
		overrides  []string
		listeners  string
		logDirs    string
		netName    string
		logLevel   string
	)
	cmd := &cobra.Command{
		Use:   "serve [server.properties]",
		Short: "Run a broker until SIGTERM or SIGINT",
		Long: `Run a broker. Configuration comes from a Kafka-style properties file
(--config) with Kafka's names (listeners, log.dirs, num.partitions, log.segment.bytes,
log.retention.ms, message.max.bytes, ...) and Runnel's own runnel.* keys, then
--override key=value, repeatable. SIGTERM or SIGINT shuts down cleanly: requests
in flight finish, logs are flushed and the clean-shutdown marker is written.
As with kafka-server-start.sh, the properties file may also be the argument.`,
		Example: `  runnel serve
  runnel serve config/server.properties --override log.dirs=/var/lib/runnel
  runnel serve --listeners PLAINTEXT://0.0.0.0:9092 --override num.partitions=3`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if configPath != "" {
					return fmt.Errorf("give the properties file either as the argument or with --config, not both")
				}
				configPath = args[0]
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			if listeners != "" {
				overrides = append(overrides, "listeners="+listeners)
			}
			if logDirs != "" {
				overrides = append(overrides, "log.dirs="+logDirs)
			}
			if netName != "" {
				overrides = append(overrides, "runnel.net="+netName)
			}
			cfg, warnings, err := broker.LoadConfig(configPath, overrides)
			if err != nil {
				return err
			}
			for _, w := range warnings {
				logger.Warn(w)
			}
			return serve(cfg, logger)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "Kafka-style properties file (server.properties)")
	f.StringArrayVar(&overrides, "override", nil, "key=value overriding a property (repeatable)")
	f.StringVar(&listeners, "listeners", "", "shortcut for --override listeners=...")
	f.StringVar(&logDirs, "log.dirs", "", "shortcut for --override log.dirs=...")
	f.StringVar(&netName, "net", "", "transport, std or epoll: shortcut for --override runnel.net=...")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// serve runs a broker until a signal or a listener failure, then closes it.
func serve(cfg broker.Config, logger *slog.Logger) error {
	b, err := broker.New(cfg, logger)
	if err != nil {
		return err
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- b.ListenAndServe() }()
	var serveErr error
	select {
	case sig := <-signals:
		logger.Info("shutting down", "signal", sig.String())
	case serveErr = <-served:
		logger.Error("listener failed", "err", serveErr)
	}
	signal.Stop(signals)
	if errors.Is(serveErr, broker.ErrClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, b.Close())
}

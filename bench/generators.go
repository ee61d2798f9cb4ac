package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"runnel/loadgen"
)

// runGenerators applies cfg with n `runnel loadgen` processes at once
// (runnel is the binary), each with its share of the producers (raw
// connections) and of the rate, the first with every consumer, and merges
// their results, histograms included. Several processes keep one
// generator's garbage collector and scheduler from capping the load.
func runGenerators(ctx context.Context, runnel, dir string, cfg loadgen.Config, n int) (*loadgen.Result, error) {
	if cfg.MaxLag > 0 {
		return nil, fmt.Errorf("bench: a max lag needs the producers and the consumers in one process")
	}
	if err := loadgen.PrepareTopic(ctx, cfg); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(dir, "generators-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	parts := make([]*loadgen.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		share := generatorShare(cfg, i, n)
		path := filepath.Join(tmp, strconv.Itoa(i)+".json")
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, runnel, append([]string{"loadgen"}, loadgenArgs(share, path)...)...)
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("bench: generator %d: %w", i, err)
		}
		wg.Go(func() {
			if err := cmd.Wait(); err != nil {
				errs[i] = fmt.Errorf("bench: generator %d: %w: %s", i, err, strings.TrimSpace(stderr.String()))
				return
			}
			parts[i], errs[i] = loadgen.ReadResult(path)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return loadgen.Merge(parts...), nil
}

// generatorShare is generator i of n's part of cfg: an even share of the
// producers, raw connections and rate (the first ones get the remainder),
// and every consumer for the first.
func generatorShare(cfg loadgen.Config, i, n int) loadgen.Config {
	share := func(total int) int { return total/n + btoi(i < total%n) }
	part := cfg
	part.Producers, part.Connections = share(cfg.Producers), share(cfg.Connections)
	if cfg.Producers > 0 && cfg.Raw {
		part.Producers = max(part.Producers, 1) // a raw generator's connections are its producers
	}
	part.Rate = cfg.Rate / float64(n)
	if i > 0 {
		part.Consumers = 0
	}
	return part
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// loadgenArgs are `runnel loadgen`'s flags for cfg, writing its result to
// jsonPath.
func loadgenArgs(cfg loadgen.Config, jsonPath string) []string {
	args := []string{
		"--bootstrap-server", strings.Join(cfg.Brokers, ","), "--topic", cfg.Topic,
		"--partitions", strconv.Itoa(cfg.Partitions),
		"--producers", strconv.Itoa(cfg.Producers), "--consumers", strconv.Itoa(cfg.Consumers),
		"--record-size", strconv.Itoa(cfg.RecordSize), "--record-size-max", strconv.Itoa(cfg.RecordSizeMax),
		"--keys", strconv.Itoa(cfg.Keys), "--headers", strconv.Itoa(cfg.Headers),
		"--linger", cfg.Linger.String(), "--batch-bytes", strconv.Itoa(cfg.BatchBytes),
		"--acks", cfg.Acks, "--compression", cfg.Compression, "--idempotent=" + strconv.FormatBool(cfg.Idempotent),
		"--max-buffered", strconv.Itoa(cfg.MaxBuffered),
		"--rate", strconv.FormatFloat(cfg.Rate, 'f', -1, 64),
		"--warmup", cfg.Warmup.String(), "--duration", cfg.Duration.String(),
		"--records", strconv.FormatInt(cfg.Records, 10),
		"--from-start=" + strconv.FormatBool(cfg.FromStart), "--drain-timeout", cfg.DrainTimeout.String(),
		"--json", jsonPath, "--quiet",
	}
	if cfg.Raw {
		args = append(args, "--raw", "--connections", strconv.Itoa(cfg.Connections),
			"--in-flight", strconv.Itoa(cfg.InFlight), "--batch-records", strconv.Itoa(cfg.BatchRecords))
	}
	return args
}

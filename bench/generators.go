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

// runGenerators applies cfg with n `runnel loadgen` processes of
// producers at once (runnel is the binary), each with its share of the
// producers (raw connections) and of the rate, and one more process with
// every consumer if cfg has any; it merges their results, histograms
// included. Several processes keep one generator's garbage collector and
// scheduler from capping the load.
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
	shares := generatorShares(cfg, n)
	parts := make([]*loadgen.Result, len(shares))
	errs := make([]error, len(shares))
	var wg sync.WaitGroup
	for i, share := range shares {
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

// generatorShares splits cfg between n producing processes, each with an
// even share of the producers, raw connections and rate (the first ones
// get the remainder) and no consumer, and, if cfg has consumers, one more
// process with all of them and no producer. In a process of its own the
// consumer neither slows one producing process more than the others nor
// is slowed by it: with the consumer beside a producer at 10,000
// partitions, that process produced 55 MB/s and the other 155, and the
// whole 0.84x of the same load at 8 partitions against 0.88-0.96x with the
// consumer apart (results/2026-12-05-10k-hand-runs).
func generatorShares(cfg loadgen.Config, n int) []loadgen.Config {
	if cfg.Producers == 0 {
		return []loadgen.Config{cfg}
	}
	var shares []loadgen.Config
	for i := range n {
		share := func(total int) int { return total/n + btoi(i < total%n) }
		part := cfg
		part.Producers, part.Connections = share(cfg.Producers), share(cfg.Connections)
		if cfg.Raw {
			part.Producers = max(part.Producers, 1) // a raw generator's connections are its producers
		}
		part.Rate = cfg.Rate / float64(n)
		part.Consumers = 0
		shares = append(shares, part)
	}
	if cfg.Consumers > 0 {
		consumers := cfg
		consumers.Producers, consumers.Connections, consumers.Rate = 0, 0, 0
		shares = append(shares, consumers)
	}
	return shares
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

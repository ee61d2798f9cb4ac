package segment_test

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"runnel/segment"
	"runnel/segment/segmenttest"
)

// Environment of the child process of TestCleanKilled.
const (
	cleanKillDirEnv   = "RUNNEL_CLEAN_KILL_CHILD_DIR"
	cleanKillRoundEnv = "RUNNEL_CLEAN_KILL_CHILD_ROUND"
)

// cleanKillKeys is how many keys the child overwrites.
const cleanKillKeys = 30

func cleanKillConfig() segment.Config {
	cfg := smallConfig()
	cfg.SegmentBytes = 2048
	cfg.PreallocateBytes = 1024
	cfg.SegmentIndexBytes = 256
	cfg.IndexIntervalBytes = 256
	cfg.RetentionMs, cfg.RetentionBytes = -1, -1
	cfg.Compact = true
	cfg.MinCleanableDirtyRatio = 0
	return cfg
}

// cleanKillRecord is the record the child appends as its seq'th of round: one of
// cleanKillKeys keys, a value that names the key, the round and seq.
func cleanKillRecord(round, seq int) segmenttest.Record {
	key := fmt.Sprintf("k%02d", (seq*7)%cleanKillKeys)
	return segmenttest.Record{Key: []byte(key), Value: fmt.Appendf(nil, "%s r%d s%d", key, round, seq)}
}

// TestCleanKilledChild is the child of TestCleanKilled: it overwrites keys of a compacted log
// and cleans it after every few appends, printing each record's offset once its append
// returned and a line when a clean starts and ends, until it is killed. Nothing is synced: a
// SIGKILL keeps what the process wrote (the page cache), so every append that returned stays.
func TestCleanKilledChild(t *testing.T) {
	dir := os.Getenv(cleanKillDirEnv)
	if dir == "" {
		t.Skip("run by TestCleanKilled")
	}
	round, _ := strconv.Atoi(os.Getenv(cleanKillRoundEnv))
	l, err := segment.OpenLog(dir, testTP, cleanKillConfig(), 0, false, quietLogger)
	if err != nil {
		fmt.Printf("ERROR open: %v\n", err)
		os.Exit(2)
	}
	m := segment.NewOffsetMap(1 << 20)
	out := bufio.NewWriter(os.Stdout)
	for seq := 0; ; seq++ {
		info, err := l.Append(segmenttest.Batch([]segmenttest.Record{cleanKillRecord(round, seq)}, segmenttest.Timestamp(time.Now().UnixMilli())), segment.AppendOptions{})
		if err != nil {
			fmt.Printf("ERROR append: %v\n", err)
			os.Exit(2)
		}
		fmt.Fprintf(out, "ACK %d %d\n", info.FirstOffset, seq)
		if seq%4 == 3 {
			fmt.Fprintln(out, "CLEAN")
			out.Flush()
			l.SetHighWatermark(l.EndOffset()) // every record acknowledged is committed
			if _, err := l.Clean(l.Cleanable(0, l.HighWatermark()), segment.CleanOptions{Map: m}); err != nil {
				fmt.Printf("ERROR clean: %v\n", err)
				os.Exit(2)
			}
			fmt.Fprintln(out, "CLEANED")
		}
		out.Flush()
	}
}

// TestCleanKilled SIGKILLs a process that appends to and cleans a compacted log, at random
// moments, many of them in the middle of a clean, then reopens the log: no .cleaned or .swap
// file is left, the batches are valid and in offset order, and every key holds its latest
// acknowledged value at the offset it was written at, or a later write. The log carries over
// from round to round.
func TestCleanKilled(t *testing.T) {
	rounds := 12
	if testing.Short() {
		rounds = 3
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	latest := map[string]int64{}  // key -> the offset of its latest acknowledged write
	written := map[int64]string{} // offset -> the value acknowledged there
	midClean := 0
	for round := range rounds {
		cmd, stdout := startChild(t, "TestCleanKilledChild", cleanKillDirEnv+"="+dir, cleanKillRoundEnv+"="+strconv.Itoa(round))
		var lines []string
		read := make(chan struct{})
		go func() {
			defer close(read)
			for sc := bufio.NewScanner(stdout); sc.Scan(); {
				lines = append(lines, sc.Text())
			}
		}()
		time.Sleep(time.Duration(30+rng.Intn(300)) * time.Millisecond) // the moment of the kill is the test's input
		cmd.Process.Kill()
		<-read
		cmd.Wait()
		cleaning := false
		for _, line := range lines {
			var offset int64
			var seq int
			switch {
			case line == "CLEAN":
				cleaning = true
			case line == "CLEANED":
				cleaning = false
			case strings.HasPrefix(line, "ACK "):
				if _, err := fmt.Sscanf(line, "ACK %d %d", &offset, &seq); err != nil {
					t.Fatalf("round %d: child said %q", round, line)
				}
				r := cleanKillRecord(round, seq)
				latest[string(r.Key)] = offset
				written[offset] = string(r.Value)
			default:
				t.Fatalf("round %d: child said %q", round, line)
			}
		}
		if cleaning {
			midClean++
		}

		logger, logs := captureLogger()
		l, err := segment.OpenLog(dir, testTP, cleanKillConfig(), 0, false, logger)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		for _, pattern := range []string{"*.cleaned", "*.swap"} {
			if left, _ := filepath.Glob(filepath.Join(dir, pattern)); len(left) > 0 {
				t.Fatalf("round %d: %v left after the reopen\nrecovery log:\n%s", round, left, logs)
			}
		}
		found := map[string]int64{}
		prev := int64(-1)
		for _, b := range readAllBatches(t, l, l.StartOffset(), false) {
			records, err := segment.Records(b)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			for _, r := range records {
				if r.Offset <= prev {
					t.Fatalf("round %d: offset %d after %d", round, r.Offset, prev)
				}
				prev = r.Offset
				if want, ok := written[r.Offset]; ok && want != string(r.Value) {
					t.Fatalf("round %d: offset %d holds %q, %q was written there", round, r.Offset, r.Value, want)
				}
				if !strings.HasPrefix(string(r.Value), string(r.Key)+" ") {
					t.Fatalf("round %d: offset %d holds %q for key %s", round, r.Offset, r.Value, r.Key)
				}
				found[string(r.Key)] = r.Offset
			}
		}
		for key, offset := range latest {
			if got, ok := found[key]; !ok || got < offset {
				t.Fatalf("round %d: key %s: latest offset in the log %d (found: %t), below its acknowledged write at %d\nrecovery log:\n%s", round, key, got, ok, offset, logs)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d rounds, %d killed in the middle of a clean", rounds, midClean)
}

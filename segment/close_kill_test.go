package segment_test

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"runnel/segment"
)

// Environment of the child process of TestCloseKilled.
const (
	closeKillDirEnv   = "RUNNEL_CLOSE_KILL_CHILD_DIR"
	closeKillRoundEnv = "RUNNEL_CLOSE_KILL_CHILD_ROUND"
)

// closeKillLogs is how many logs the child closes: enough for its Close to take a while.
const closeKillLogs = 100

// closeKillConfig has segments small enough that most rounds roll each log: a leader epoch then
// starts in a sealed segment, which a clean open does not scan (the epochs file has it).
func closeKillConfig() segment.Config {
	c := crashConfig()
	c.SegmentBytes = 8 << 10
	c.PreallocateBytes = 4 << 10
	return c
}

// TestCloseKilledChild is the child of TestCloseKilled: it opens the LogDir on the operating
// system's files (where the kernel's syncfs reports writeback errors, Close takes the syncfs
// path), appends to every log in a new leader epoch, syncs, prints each synced batch ("ACK"),
// appends an unsynced tail ("TAIL"), prints "CLOSING" and closes the directory, then prints
// "CLOSED" and Close's error, unless it was killed before.
func TestCloseKilledChild(t *testing.T) {
	dir := os.Getenv(closeKillDirEnv)
	if dir == "" {
		t.Skip("run by TestCloseKilled")
	}
	round, _ := strconv.Atoi(os.Getenv(closeKillRoundEnv))
	fail := func(what string, err error) {
		fmt.Printf("ERROR %s: %v\n", what, err)
		os.Exit(2)
	}
	d, err := segment.OpenLogDir(dir, func(string) segment.Config { return closeKillConfig() }, quietLogger)
	if err != nil {
		fail("open", err)
	}
	out := bufio.NewWriter(os.Stdout)
	logs := make([]*segment.Log, closeKillLogs)
	appendSome := func(p, from, to int, kind string) {
		for seq := from; seq < to; seq++ {
			info, err := logs[p].Append(crashBatch(round, p, seq), segment.AppendOptions{LeaderEpoch: int32(round + 1)})
			if err != nil {
				fail("append", err)
			}
			fmt.Fprintf(out, "%s %d %d %d\n", kind, p, info.FirstOffset, seq)
		}
	}
	for p := range logs {
		if logs[p], err = d.Create(segment.TopicPartition{Topic: "k", Partition: int32(p)}, closeKillConfig()); err != nil {
			fail("create", err)
		}
	}
	var wg sync.WaitGroup
	for p, l := range logs {
		wg.Go(func() {
			for seq := range 4 {
				if _, err := l.Append(crashBatch(round, p, seq), segment.AppendOptions{LeaderEpoch: int32(round + 1)}); err != nil {
					fail("append", err)
				}
			}
			if _, err := l.Sync(); err != nil {
				fail("sync", err)
			}
		})
	}
	wg.Wait()
	// The batches are read back for their offsets: the acks, printed after the sync.
	for p, l := range logs {
		seq := 0
		for _, b := range readAllBatches(t, l, l.StartOffset(), true) {
			h, _ := segment.ParseBatchHeader(b)
			if h.PartitionLeaderEpoch == int32(round+1) {
				fmt.Fprintf(out, "ACK %d %d %d\n", p, h.BaseOffset, seq)
				seq++
			}
		}
		appendSome(p, 4, 6, "TAIL")
	}
	fmt.Fprintln(out, "CLOSING")
	out.Flush()
	err = d.Close()
	fmt.Printf("CLOSED %v\n", err)
}

// TestCloseKilled SIGKILLs a process in the middle of LogDir.Close at random moments (spread
// over how long a whole Close took in the first round), on the operating system's files: the
// real syncfs path. Each round reopens the directory, which carries over: every batch
// acknowledged as synced in any round is there byte for byte, and, since a killed process's
// writes stay in the page cache, so is every batch appended (the unsynced tails); every batch
// there is one that was appended, whole and in order; each log has the leader epochs of its
// batches; and a Close that returned nil left a directory that opens clean.
func TestCloseKilled(t *testing.T) {
	rounds := 8
	if testing.Short() {
		rounds = 3
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	acked := make([]map[int64][]byte, closeKillLogs)    // per log: offset -> stored batch
	appended := make([]map[int64][]byte, closeKillLogs) // acked and tails
	epochs := make([][]segment.EpochEntry, closeKillLogs)
	for p := range acked {
		acked[p], appended[p] = map[int64][]byte{}, map[int64][]byte{}
	}
	var closeTook time.Duration
	killedInClose, beforeRenames, afterMarker := 0, 0, 0
	for round := range rounds {
		cmd, stdout := startChild(t, "TestCloseKilledChild", closeKillDirEnv+"="+dir, closeKillRoundEnv+"="+strconv.Itoa(round))
		closing := make(chan time.Time, 1)
		var lines []string
		read := make(chan struct{})
		go func() {
			defer close(read)
			for sc := bufio.NewScanner(stdout); sc.Scan(); {
				if sc.Text() == "CLOSING" {
					closing <- time.Now()
				}
				lines = append(lines, sc.Text())
			}
		}()
		var delay time.Duration
		select {
		case start := <-closing:
			if round == 0 {
				cmd.Wait() // the first Close runs to its end: how long the kills spread over
				closeTook = time.Since(start)
				break
			}
			delay = time.Duration(rng.Int63n(int64(closeTook) + 1))
			time.Sleep(delay)
			cmd.Process.Kill()
		case <-read:
		}
		<-read
		cmd.Wait()

		closed, closedErr := false, ""
		for _, line := range lines {
			var kind string
			var p int
			var offset int64
			var seq int
			switch {
			case line == "CLOSING" || line == "PASS": // PASS: the child's test ended
			case strings.HasPrefix(line, "CLOSED "):
				closed, closedErr = true, strings.TrimPrefix(line, "CLOSED ")
			case strings.HasPrefix(line, "ACK ") || strings.HasPrefix(line, "TAIL "):
				if _, err := fmt.Sscanf(line, "%s %d %d %d", &kind, &p, &offset, &seq); err != nil {
					t.Fatalf("round %d: child said %q", round, line)
				}
				b := crashBatch(round, p, seq)
				segment.StampBaseOffset(b, offset, int32(round+1))
				appended[p][offset] = b
				if e := &epochs[p]; len(*e) == 0 || (*e)[len(*e)-1].Epoch != int32(round+1) {
					*e = append(*e, segment.EpochEntry{Epoch: int32(round + 1), StartOffset: offset})
				} else {
					(*e)[len(*e)-1].StartOffset = min((*e)[len(*e)-1].StartOffset, offset)
				}
				if kind == "ACK" {
					acked[p][offset] = b
				}
			default:
				t.Fatalf("round %d: child said %q", round, line)
			}
		}
		if round == 0 && (!closed || closedErr != "<nil>") {
			t.Fatalf("round 0: the child's Close did not finish: %q", lines[max(len(lines)-3, 0):])
		}
		if !closed {
			killedInClose++
			// Where the kill fell: between the logs' closes and the renames (their new
			// files still temporary), or after the marker.
			if tmps, _ := filepath.Glob(filepath.Join(dir, "*", "*.tmp")); len(tmps) > 0 {
				t.Logf("round %d: %d temporary files, e.g. %s", round, len(tmps), filepath.Base(tmps[0]))
				beforeRenames++
			}
			if _, err := os.Stat(filepath.Join(dir, ".kafka_cleanshutdown")); err == nil {
				afterMarker++
			}
		}

		logger, logs := captureLogger()
		d, err := segment.OpenLogDir(dir, func(string) segment.Config { return closeKillConfig() }, logger)
		if err != nil {
			t.Fatalf("round %d (killed %v into Close): reopen: %v", round, delay, err)
		}
		if tmps, _ := filepath.Glob(filepath.Join(dir, "*", "*.tmp")); len(tmps) > 0 {
			t.Fatalf("round %d: temporary files left in the logs after the reopen: %d, e.g. %s", round, len(tmps), tmps[0])
		}
		if closed && closedErr == "<nil>" && !strings.Contains(logs.String(), "clean=true") {
			t.Fatalf("round %d: the Close returned nil, the reopen is not clean\n%s", round, logs)
		}
		for p := range closeKillLogs {
			l := d.Logs()[segment.TopicPartition{Topic: "k", Partition: int32(p)}]
			if l == nil {
				t.Fatalf("round %d: log %d missing", round, p)
			}
			checkAckedIn(t, l, acked[p])
			checkAckedIn(t, l, appended[p]) // a SIGKILL keeps the page cache: the tails too
			next := l.StartOffset()
			for _, b := range readAllBatches(t, l, next, false) {
				h, err := segment.ValidateBatch(b)
				if err != nil || h.BaseOffset != next {
					t.Fatalf("round %d (killed %v into Close): log %d: batch at %d: %v (base %d)\n%s", round, delay, p, next, err, h.BaseOffset, logs)
				}
				if !bytes.Equal(b, appended[p][next]) {
					t.Fatalf("round %d (killed %v into Close): log %d: batch at %d is not the one appended there", round, delay, p, next)
				}
				next = h.LastOffset() + 1
			}
			if next != l.EndOffset() {
				t.Fatalf("round %d: log %d: batches end at %d, EndOffset %d", round, p, next, l.EndOffset())
			}
			if got := l.LeaderEpochs(); !slices.Equal(got, epochs[p]) {
				t.Fatalf("round %d (killed %v into Close): log %d: epochs %v, want %v\n%s", round, delay, p, got, epochs[p], logs)
			}
		}
		if round%2 == 0 {
			d.Abandon() // the next child finds an unclean directory half the time
		} else if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d rounds, a Close took %v, %d killed before it returned: %d with temporary files left, %d after the marker", rounds, closeTook, killedInClose, beforeRenames, afterMarker)
}

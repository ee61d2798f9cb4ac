package segment_test

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"runnel/io/flush"
	"runnel/segment"
	"runnel/segment/segmenttest"
)

// The log is what an io/flush Flusher syncs.
var _ flush.Target = (*segment.Log)(nil)

var crashRounds = flag.Int("crash.rounds", 0, "rounds of TestCrash (default: $RUNNEL_CRASH_ROUNDS, else 24)")

// Environment of the child process of TestCrash.
const (
	crashDirEnv   = "RUNNEL_CRASH_CHILD_DIR"
	crashRoundEnv = "RUNNEL_CRASH_CHILD_ROUND"
)

// Shape of the crash test's load: appenders per child, batches each keeps in flight.
const (
	crashAppenders = 4
	crashInFlight  = 8
)

func crashConfig() segment.Config {
	c := segment.DefaultConfig()
	c.SegmentBytes = 256 << 10
	c.PreallocateBytes = 64 << 10
	c.SegmentIndexBytes = 4096
	c.IndexIntervalBytes = 1024
	return c
}

// crashBatch is the deterministic batch that appender g of round sends as its seq'th, before
// the log stamps its offset.
func crashBatch(round, g, seq int) []byte {
	rng := rand.New(rand.NewSource(int64(round)<<40 | int64(g)<<32 | int64(seq)))
	value := make([]byte, 50+rng.Intn(3000))
	rng.Read(value)
	key := fmt.Appendf(nil, "r%d-g%d-s%d", round, g, seq)
	return segmenttest.Batch([]segmenttest.Record{{Key: key, Value: value}, {Key: key}}, segmenttest.Timestamp(int64(seq)))
}

// ack is one line of the child's output: the batch it names was reported durable at offset.
type ack struct {
	offset         int64
	round, g, seq  int
	expectedStored []byte
}

// TestCrashChild is the child of TestCrash: it appends deterministic batches from several
// goroutines through a durable io/flush Flusher and prints each batch's offset only after the
// flusher reported it durable, until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrash")
	}
	round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
	l, err := segment.OpenLog(dir, testTP, crashConfig(), 0, false, quietLogger)
	if err != nil {
		fmt.Printf("ERROR open: %v\n", err)
		os.Exit(2)
	}
	f := flush.New(flush.Config{Policy: flush.Durable})
	var out sync.Mutex
	for g := range crashAppenders {
		go func() {
			slots := make(chan struct{}, crashInFlight)
			for seq := 0; ; seq++ {
				slots <- struct{}{}
				info, err := l.Append(crashBatch(round, g, seq), segment.AppendOptions{})
				if err != nil {
					fmt.Printf("ERROR append: %v\n", err)
					os.Exit(2)
				}
				line := fmt.Appendf(nil, "ACK %d %d %d %d\n", info.FirstOffset, round, g, seq)
				f.Wait(l, info.LastOffset+1, func(err error) {
					if err != nil {
						fmt.Printf("ERROR sync: %v\n", err)
						os.Exit(2)
					}
					out.Lock()
					os.Stdout.Write(line) // one write: a line is either all there or absent
					out.Unlock()
					<-slots
				})
			}
		}()
	}
	select {}
}

// TestCrash runs TestCrashChild in a child process, SIGKILLs it at a random moment, reopens
// the log as after a crash and checks that every offset the child acknowledged as durable is
// there with its exact bytes, and that the log is consistent and appendable. The log carries
// over from round to round.
func TestCrash(t *testing.T) {
	rounds := 24
	if n, err := strconv.Atoi(os.Getenv("RUNNEL_CRASH_ROUNDS")); err == nil {
		rounds = n
	}
	if *crashRounds > 0 {
		rounds = *crashRounds
	}
	if testing.Short() {
		rounds = min(rounds, 4)
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	var acked []ack // the most recent acks, all checked after every round
	total := 0
	for round := range rounds {
		acks := runCrashChild(t, dir, round, time.Duration(20+rng.Intn(400))*time.Millisecond)
		acked = append(acked, acks...)
		total += len(acks)
		logger, logs := captureLogger()
		l, err := segment.OpenLog(dir, testTP, crashConfig(), 0, false, logger)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		for _, a := range acked {
			rr, err := l.Read(a.offset, 1, segment.ReadOptions{MinOneBatch: true})
			if err != nil {
				t.Fatalf("round %d: acked offset %d (round %d appender %d batch %d): %v\nrecovery log:\n%s", round, a.offset, a.round, a.g, a.seq, err, logs)
			}
			if got := rangeBytes(t, &rr); !bytes.Equal(got, a.expectedStored) {
				t.Fatalf("round %d: acked offset %d (round %d appender %d batch %d): %d bytes differ from the %d acknowledged\nrecovery log:\n%s", round, a.offset, a.round, a.g, a.seq, len(got), len(a.expectedStored), logs)
			}
		}
		// Whatever else survived is whole, valid and in order.
		next := l.StartOffset()
		for _, b := range readAllBatches(t, l, next, false) {
			h, err := segment.ValidateBatch(b)
			if err != nil || h.BaseOffset != next {
				t.Fatalf("round %d: batch at %d after recovery: %v (base %d)", round, next, err, h.BaseOffset)
			}
			next = h.LastOffset() + 1
		}
		if next != l.EndOffset() {
			t.Fatalf("round %d: batches end at %d, EndOffset %d", round, next, l.EndOffset())
		}
		// Keep the log and the list of acks bounded over many rounds: retention by
		// DeleteRecords, in crash conditions too.
		if len(acked) > 4000 {
			acked = acked[len(acked)-4000:]
			cutoff := acked[0].offset
			if _, err := l.DeleteRecordsBefore(cutoff); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if round%2 == 0 {
			l.Close() // the next child finds a cleanly closed log half the time
		} else {
			l.Abandon()
		}
	}
	t.Logf("crash: %d rounds passed, %d acknowledged batches verified after their crash", rounds, total)
}

// startChild runs this test binary's test named child with env added (its data directory and
// round), its stderr on ours, and returns it started, with a pipe of its stdout.
func startChild(t *testing.T, child string, env ...string) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout
}

// runCrashChild starts the child, kills it with SIGKILL after d and returns what it acked.
func runCrashChild(t *testing.T, dir string, round int, d time.Duration) []ack {
	t.Helper()
	cmd, stdout := startChild(t, "TestCrashChild", crashDirEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
	var acks []ack
	var errLines []string
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var a ack
			if _, err := fmt.Sscanf(sc.Text(), "ACK %d %d %d %d", &a.offset, &a.round, &a.g, &a.seq); err != nil {
				errLines = append(errLines, sc.Text())
				continue
			}
			acks = append(acks, a)
		}
		io.Copy(io.Discard, stdout)
	}()
	time.Sleep(d) // the crash comes at a random moment of the child's work: that is the test
	cmd.Process.Kill()
	cmd.Wait()
	<-read
	for _, line := range errLines {
		if bytes.HasPrefix([]byte(line), []byte("ERROR")) {
			t.Fatalf("round %d: child: %s", round, line)
		}
	}
	for i := range acks {
		b := crashBatch(acks[i].round, acks[i].g, acks[i].seq)
		segment.StampBaseOffset(b, acks[i].offset, 0)
		acks[i].expectedStored = b
	}
	return acks
}

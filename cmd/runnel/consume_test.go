package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker/brokertest"
	"runnel/internal/wait"
)

func TestRecordPrinter(t *testing.T) {
	ts := time.UnixMilli(1700000000123)
	rec := &kgo.Record{Topic: "t", Partition: 2, Offset: 41, Timestamp: ts, Key: []byte("k"), Value: []byte("v"),
		Headers: []kgo.RecordHeader{{Key: "h1", Value: []byte("a")}, {Key: "h2"}}}
	bare := &kgo.Record{Topic: "t", Timestamp: ts}
	for _, tc := range []struct {
		name   string
		props  map[string]string
		format string
		rec    *kgo.Record
		want   string
	}{
		{"value only", nil, "", rec, "v\n"},
		{"null value", nil, "", bare, "null\n"},
		{"everything", map[string]string{"print.timestamp": "true", "print.partition": "true", "print.offset": "true", "print.headers": "true", "print.key": "true"}, "", rec,
			"CreateTime:1700000000123\tPartition:2\tOffset:41\th1:a,h2:null\tk\tv\n"},
		{"separators and null literal", map[string]string{"print.key": "true", "print.headers": "true", "key.separator": " | ", "line.separator": ";", "headers.separator": "&", "null.literal": "<nil>"}, "", bare,
			"NO_HEADERS | <nil> | <nil>;"},
		{"key without value", map[string]string{"print.key": "true", "print.value": "false"}, "", rec, "k\n"},
		{"template", nil, `{{.Topic}}/{{.Partition}}@{{.Offset}} {{.Timestamp.UTC.Format "15:04:05.000"}} {{.TimestampType}} {{.Key}}={{.Value}}{{range .Headers}} {{.Key}}:{{.Value}}{{end}}`, rec,
			"t/2@41 22:13:20.123 CreateTime k=v h1:a h2:\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := newRecordPrinter(tc.props, tc.format)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			if err := p.print(w, tc.rec); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			if buf.String() != tc.want {
				t.Errorf("got %q, want %q", buf.String(), tc.want)
			}
		})
	}
	if _, err := newRecordPrinter(map[string]string{"print.keys": "true"}, ""); err == nil {
		t.Error("unknown property accepted")
	}
	p, _ := newRecordPrinter(nil, "{{.Nope}}")
	if err := p.print(bufio.NewWriter(&bytes.Buffer{}), rec); err == nil {
		t.Error("template naming a missing field printed")
	}
}

func TestConsume(t *testing.T) {
	b := brokertest.Start(t)
	bs := []string{"--bootstrap-server", b.Addr}
	run := func(args ...string) result {
		t.Helper()
		r := runTool(t, nil, "", append(args, bs...)...)
		if r.code != 0 {
			t.Fatalf("runnel %v: exit %d: %s", args, r.code, r.stderr)
		}
		return r
	}
	mustRun(t, "h:1\tk0\tv0\nh:2\tk1\tv1\nh:3\tk2\tv2\nh:4\tk3\tv3\nh:5\tk4\tv4\n",
		append([]string{"produce", "--topic", "c", "--property", "parse.key=true", "--property", "parse.headers=true"}, bs...)...)

	r := run("consume", "--topic", "c", "--from-beginning", "--max-messages", "3")
	if r.stdout != "v0\nv1\nv2\n" || r.stderr != "Processed a total of 3 messages\n" {
		t.Errorf("--max-messages 3: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	if r := run("consume", "--topic", "c", "--partition", "0", "--offset", "3", "--max-messages", "5", "--timeout-ms", "500"); r.stdout != "v3\nv4\n" {
		t.Errorf("--offset 3: %q", r.stdout)
	}
	r = run("consume", "--topic", "c", "--from-beginning", "--max-messages", "1",
		"--property", "print.timestamp=true", "--property", "print.partition=true", "--property", "print.offset=true",
		"--property", "print.headers=true", "--property", "print.key=true")
	matchLines(t, "print.*", r.stdout, []string{`^CreateTime:\d{13}\tPartition:0\tOffset:0\th:1\tk0\tv0$`})
	r = run("consume", "--topic", "c", "--from-beginning", "--max-messages", "2", "--format", "{{.Topic}}-{{.Partition}}@{{.Offset}} {{.Key}}={{.Value}}")
	if r.stdout != "c-0@0 k0=v0\nc-0@1 k1=v1\n" {
		t.Errorf("--format: %q", r.stdout)
	}

	// From the end (the default) there is nothing yet; --timeout-ms ends
	// the wait, successfully, as in Kafka.
	for _, args := range [][]string{
		{"consume", "--topic", "c", "--timeout-ms", "300"},
		{"consume", "--topic", "c", "--partition", "0", "--timeout-ms", "300"},
	} {
		r := run(args...)
		if r.stdout != "" || r.stderr != "Processed a total of 0 messages\n" || r.elapsed > 5*time.Second {
			t.Errorf("%v: stdout %q, stderr %q after %v", args, r.stdout, r.stderr, r.elapsed)
		}
	}

	mustFail(t, "", `topic "nope" does not exist`, append([]string{"consume", "--topic", "nope"}, bs...)...)
	mustFail(t, "", `--partition 1: topic "c" has 1 partitions`, append([]string{"consume", "--topic", "c", "--partition", "1"}, bs...)...)
}

// TestConsumeFollows: a consumer started at the end prints records
// produced after it started.
func TestConsumeFollows(t *testing.T) {
	b := brokertest.Start(t)
	mustRun(t, "", "topics", "create", "--topic", "live", "--bootstrap-server", b.Addr)
	cmd := exec.Command(os.Args[0], "consume", "--topic", "live", "--max-messages", "1", "--bootstrap-server", b.Addr)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// The consumer may not have found the end of the log yet when the
	// first record goes out: keep producing until it prints one.
	deadline := time.After(20 * time.Second)
	for {
		mustRun(t, "live\n", "produce", "--topic", "live", "--bootstrap-server", b.Addr)
		select {
		case err := <-done:
			if err != nil || stdout.String() != "live\n" {
				t.Fatalf("consumer: %v, printed %q", err, stdout.String())
			}
			return
		case <-deadline:
			cmd.Process.Kill()
			t.Fatal("the consumer printed nothing in 20 s")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestConsumeStopsOnSignal: Ctrl-C ends a waiting consumer cleanly.
func TestConsumeStopsOnSignal(t *testing.T) {
	b := brokertest.Start(t)
	mustRun(t, "", "topics", "create", "--topic", "quiet", "--bootstrap-server", b.Addr)
	// The consumer dials the broker only once it handles SIGINT; before
	// that, SIGINT would kill it.
	interruptConsumer(t, b.Addr, func(pid int) bool { return hasSocket(pid) })
}

// TestConsumeStopsOnSignalWhileStarting: Ctrl-C while the consumer still
// waits for the broker's first answer ends it as cleanly, as Kafka's
// console consumer does, not with "context canceled".
func TestConsumeStopsOnSignalWhileStarting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	interruptConsumer(t, ln.Addr().String(), func(int) bool {
		select {
		case c := <-accepted:
			t.Cleanup(func() { c.Close() })
			return true
		default:
			return false
		}
	})
}

// interruptConsumer starts `runnel consume` against bootstrap, sends it
// SIGINT once started(its pid) holds, and checks that it ends cleanly.
func interruptConsumer(t *testing.T, bootstrap string, started func(pid int) bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "consume", "--topic", "quiet", "--bootstrap-server", bootstrap)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	defer cmd.Process.Kill()
	wait.Until(t, 10*time.Second, "the consumer to start", func() bool { return started(cmd.Process.Pid) })
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-errc:
		if err != nil || !strings.Contains(stderr.String(), "Processed a total of 0 messages") {
			t.Errorf("after SIGINT: %v, stderr %q", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("consumer still running 10 s after SIGINT")
	}
}

// hasSocket reports whether process pid has a socket open (Linux's /proc).
func hasSocket(pid int) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, _ := os.ReadDir(dir)
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && strings.HasPrefix(target, "socket:") {
			return true
		}
	}
	return false
}

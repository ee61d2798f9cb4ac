package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"runnel/broker/clustertest"
)

// The brokers a scenario runs against. Each is a child process, so the
// load generator and the broker never share a heap, a GC or a profile.
const (
	TargetRunnel = "runnel" // `runnel serve` over a fresh data directory, on its default transport (epoll)
	TargetKfake  = "kfake"  // franz-go's in-memory kfake cluster, the peer
	TargetSink   = "sink"   // Sink: acks produces without storing them, the load generator's ceiling
	// TargetSinkLibrdkafka is the sink for librdkafka's producers
	// (NewLibrdkafkaSink): kcat's ceiling in the cross-check.
	TargetSinkLibrdkafka = "sink-librdkafka"
	// TargetRunnelStd is `runnel serve` with runnel.net=std, run beside
	// TargetRunnel (Options.Transports) to compare the two transports.
	TargetRunnelStd = "runnel-std"
)

// target is a running broker child process.
type target struct {
	kind    string
	addr    string // host:port for clients
	admin   string // runnel's admin listener (pprof), "" for peers
	dataDir string
	logPath string
	cmd     *exec.Cmd
	exited  chan error
	cluster *clustertest.Cluster // a cluster target's nodes (cmd is nil)
}

// startTarget starts kind as a child process: `runnel serve` for Runnel
// (extra are its --override properties), `self peer` (self is the
// harness's binary) for kfake and the sink. Its stderr goes to logPath.
func startTarget(ctx context.Context, runnel, self, kind, workDir, logPath string, extra []string) (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	t := &target{kind: kind, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), logPath: logPath}
	var bin string
	var args []string
	switch kind {
	case TargetRunnel, TargetRunnelStd:
		adminPort, err := freePort()
		if err != nil {
			return nil, err
		}
		t.admin = net.JoinHostPort("127.0.0.1", strconv.Itoa(adminPort))
		if t.dataDir, err = os.MkdirTemp(workDir, "runnel-data-"); err != nil {
			return nil, err
		}
		bin = runnel
		args = []string{"serve", "--log-level", "warn",
			"--override", "listeners=PLAINTEXT://" + t.addr,
			"--override", "log.dirs=" + t.dataDir,
			"--override", "runnel.admin.listener=" + t.admin,
		}
		for _, o := range extra {
			args = append(args, "--override", o)
		}
		if kind == TargetRunnelStd {
			args = append(args, "--override", "runnel.net=std")
		}
	case TargetRunnelCluster, TargetRunnelClusterRF3, TargetRunnelClusterRF3NoFsync:
		return startClusterTarget(kind, runnel, workDir, logPath, extra)
	case TargetKfake, TargetSink, TargetSinkLibrdkafka:
		bin = self
		args = []string{"peer", "--kind", kind, "--port", strconv.Itoa(port)}
	default:
		return nil, fmt.Errorf("bench: unknown target %q", kind)
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	t.cmd = exec.Command(bin, args...)
	t.cmd.Stdout, t.cmd.Stderr = logFile, logFile
	if err := t.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("bench: start %s: %w", kind, err)
	}
	t.exited = make(chan error, 1)
	go func() { t.exited <- t.cmd.Wait(); logFile.Close() }()
	if err := t.waitReady(ctx, 20*time.Second); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// waitReady waits until the Kafka port accepts connections (and, for
// Runnel, /healthz answers ok).
func (t *target) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case err := <-t.exited:
			t.exited <- err
			return fmt.Errorf("bench: %s exited at start (%v): %s", t.kind, err, clustertest.Tail(t.logPath, 2000))
		default:
		}
		if c, err := net.DialTimeout("tcp", t.addr, 200*time.Millisecond); err == nil {
			c.Close()
			if t.admin == "" || httpOK("http://"+t.admin+"/healthz") {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("bench: %s not ready on %s after %s: %s", t.kind, t.addr, limit, clustertest.Tail(t.logPath, 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM, waits up to 20 s (then kills), removes the data
// directory and returns how the process ended.
func (t *target) stop() error {
	if t.cluster != nil {
		return t.stopCluster()
	}
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-t.exited:
	case <-time.After(20 * time.Second):
		_ = t.cmd.Process.Kill()
		err = fmt.Errorf("did not exit within 20 s of SIGTERM; killed (%v)", <-t.exited)
	}
	if t.dataDir != "" {
		if rerr := os.RemoveAll(t.dataDir); rerr != nil && err == nil {
			err = rerr
		}
	}
	if err != nil {
		return fmt.Errorf("bench: %s: %w", t.kind, err)
	}
	return nil
}

// ServePeer serves on 127.0.0.1:port until SIGTERM or SIGINT a kfake
// cluster of one broker (TargetKfake) or a Sink (TargetSink, or
// TargetSinkLibrdkafka for librdkafka's producers). It is what
// `runnel-bench peer` runs.
func ServePeer(kind string, port int) error {
	var closer func() error
	switch kind {
	case TargetKfake:
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port))
		if err != nil {
			return err
		}
		closer = func() error { c.Close(); return nil }
	case TargetSink, TargetSinkLibrdkafka:
		newSink := NewSink
		if kind == TargetSinkLibrdkafka {
			newSink = NewLibrdkafkaSink
		}
		s, err := newSink(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return err
		}
		closer = s.Close
	default:
		return fmt.Errorf("bench: unknown peer %q: want %s, %s or %s", kind, TargetKfake, TargetSink, TargetSinkLibrdkafka)
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
	return closer()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func httpOK(url string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

// fetch GETs url into path with a timeout of limit; on an error it
// leaves no file.
func fetch(ctx context.Context, url, path string, limit time.Duration) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = get(ctx, url, f, limit)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// get GETs url into w with a timeout of limit.
func get(ctx context.Context, url string, w io.Writer, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

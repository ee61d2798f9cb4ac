// Package brokertest starts real Runnel brokers for tests: a broker.Broker
// on a free loopback port over temporary log dirs, closed when the test
// ends, with franz-go clients pointed at it.
//
//	b := brokertest.Start(t, "num.partitions=3")
//	cl := b.Client(t, kgo.DefaultProduceTopic("t"))
//	...
//	b = b.Restart(t) // same log dirs and settings, new port
package brokertest

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker"
	"runnel/io/disk"
)

// Broker is a running test broker.
type Broker struct {
	*broker.Broker
	// Addr is the host:port clients dial.
	Addr string
	// Dirs are the log dirs.
	Dirs []string

	overrides []string
}

// defaults keep test brokers small and quiet: no admin listener, small
// preallocation, no background retention pass during a test.
var defaults = []string{
	"runnel.admin.listener=",
	"runnel.segment.preallocate.bytes=1048576",
	"log.retention.check.interval.ms=3600000",
	"runnel.shutdown.timeout.ms=5000",
}

// Start starts a broker with the given key=value properties over the
// defaults above. Without log.dirs (or log.dir) it uses a fresh t.TempDir.
// The broker listens on 127.0.0.1 on a free port and is closed (cleanly,
// and the test fails if closing fails) when the test ends.
//
// Logs go to the test log at warn level; set RUNNEL_TEST_LOG=debug (or
// info) for more. RUNNEL_TEST_NET=std (or epoll) picks the transport
// (runnel.net; the default is epoll on Linux) unless the test sets it.
func Start(t testing.TB, overrides ...string) *Broker {
	t.Helper()
	return StartFS(t, nil, overrides...)
}

// StartFS is Start with the logs' file operations going through fs (an
// io/disk/faultfs.FS that fails chosen calls); nil is the operating
// system's. Restart goes back to the operating system's.
func StartFS(t testing.TB, fs disk.FS, overrides ...string) *Broker {
	t.Helper()
	all := append([]string(nil), defaults...)
	if v := os.Getenv("RUNNEL_TEST_NET"); v != "" {
		all = append(all, "runnel.net="+v)
	}
	all = append(all, overrides...)
	if !hasKey(all, "log.dirs") && !hasKey(all, "log.dir") {
		all = append(all, "log.dirs="+t.TempDir())
	}
	return start(t, all, fs)
}

func start(t testing.TB, overrides []string, fs disk.FS) *Broker {
	t.Helper()
	cfg := loadConfig(t, overrides)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	cfg.AdvertisedHost, cfg.AdvertisedPort = "127.0.0.1", 0
	cfg.FS = fs
	logw := &testWriter{t: t}
	b, err := broker.New(cfg, logw.logger())
	if err != nil {
		ln.Close()
		t.Fatalf("brokertest: %v", err)
	}
	return serve(t, b, ln, cfg, overrides, logw)
}

func loadConfig(t testing.TB, overrides []string) broker.Config {
	t.Helper()
	cfg, warnings, err := broker.LoadConfig("", overrides)
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	for _, w := range warnings {
		t.Logf("brokertest: %s", w)
	}
	return cfg
}

// serve serves b on ln until the test ends, then closes it.
func serve(t testing.TB, b *broker.Broker, ln net.Listener, cfg broker.Config, overrides []string, logw *testWriter) *Broker {
	served := make(chan error, 1)
	go func() { served <- b.Serve(ln) }()
	tb := &Broker{Broker: b, Addr: ln.Addr().String(), Dirs: cfg.LogDirs, overrides: overrides}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("brokertest: close: %v", err)
		}
		if err := <-served; !errors.Is(err, broker.ErrClosed) {
			t.Errorf("brokertest: serve: %v", err)
		}
		logw.stop()
	})
	return tb
}

// Restart closes the broker and starts a new one over the same log dirs
// with the same properties (on a new port).
func (b *Broker) Restart(t testing.TB) *Broker {
	t.Helper()
	if err := b.Close(); err != nil {
		t.Fatalf("brokertest: close before restart: %v", err)
	}
	return start(t, b.overrides, nil)
}

// Client returns a franz-go client seeded with the broker, closed when the
// test ends.
func (b *Broker) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr)}, opts...)...)
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm client over a new Client. kgo caches metadata
// answers for MetadataMinAge (5 s by default), which would hide a topic
// change from the next ListTopics; the admin client's is 10 ms. That age
// does not cover the broker list: BrokerMetadata sends no request once the
// client knows a broker, it answers from the list of the client's last
// Metadata answer (refreshed every MetadataMaxAge, 5 min, or when a request
// needs a broker missing from it). Do not poll it to wait for brokers: a
// client whose first answer came from a broker yet to apply the others'
// unfencing lists fewer for minutes. Send a kmsg.MetadataRequest to the
// node itself (Client(t).SeedBrokers()[0]) or look at the Image.
func (b *Broker) Admin(t testing.TB, opts ...kgo.Opt) *kadm.Client {
	t.Helper()
	return kadm.NewClient(b.Client(t, append([]kgo.Opt{kgo.MetadataMinAge(10 * time.Millisecond)}, opts...)...))
}

func hasKey(overrides []string, key string) bool {
	for _, o := range overrides {
		if k, _, _ := strings.Cut(o, "="); strings.TrimSpace(k) == key {
			return true
		}
	}
	return false
}

func logLevel() slog.Level {
	var l slog.Level = slog.LevelWarn
	if v := os.Getenv("RUNNEL_TEST_LOG"); v != "" {
		if err := l.UnmarshalText([]byte(v)); err != nil {
			l = slog.LevelDebug
		}
	}
	return l
}

// testWriter sends log lines to t.Log until the test's cleanup stops it
// (t.Log after a test ends panics).
type testWriter struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

var _ io.Writer = (*testWriter)(nil)

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: logLevel()}))
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

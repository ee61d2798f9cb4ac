package bench

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"runnel/internal/wait"
)

// selfTarget is a target whose process is this test and whose Kafka
// listener is addr.
func selfTarget(t *testing.T, addr, admin string) *target {
	p, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return &target{kind: TargetKfake, addr: addr, admin: admin, cmd: &exec.Cmd{Process: p}}
}

func TestMeasureIdleOnKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 300
	res, err := measureIdle(context.Background(), selfTarget(t, c.ListenAddrs()[0], ""), n)
	if err != nil {
		t.Fatal(err)
	}
	if res.Connections != n || res.ConnectSeconds <= 0 || res.GCForced || res.Before.RSS <= 0 || res.After.RSS <= 0 ||
		res.HeapPerConnection != 0 || res.After.Goroutines != 0 {
		t.Fatalf("%+v", res)
	}
	if want := float64(res.After.RSS-res.Before.RSS) / n; res.RSSPerConnection != want {
		t.Fatalf("RSS per connection %v, want %v", res.RSSPerConnection, want)
	}
}

func TestIdleConnectionsClosedByTheBroker(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	conns, err := openIdle(context.Background(), c.ListenAddrs()[0], 50)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	defer closeAll(conns)
	if n := countClosed(conns); n != 0 {
		t.Fatalf("%d of 50 connections closed while kfake runs", n)
	}
	c.Close()
	wait.Until(t, 5*time.Second, "all 50 connections seen closed after kfake closed", func() bool {
		return countClosed(conns) == len(conns)
	})
}

func TestOpenIdleFails(t *testing.T) {
	// A listener that accepts and answers nothing: the round trip's
	// deadline would take 10 s, so close each connection at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, err = openIdle(context.Background(), ln.Addr().String(), 40)
	if err == nil || !strings.Contains(err.Error(), "of 40") || !strings.Contains(err.Error(), "ApiVersions") {
		t.Fatalf("error %v, want one naming the connection and ApiVersions", err)
	}
}

func TestCheckFDs(t *testing.T) {
	if err := checkFDs(os.Getpid(), 10); err != nil {
		t.Fatal(err)
	}
	err := checkFDs(os.Getpid(), 1<<30)
	if err == nil || !strings.Contains(err.Error(), "RLIMIT_NOFILE") || !strings.Contains(err.Error(), "the harness") {
		t.Fatalf("a billion connections: %v", err)
	}
}

// TestMemoryForcesGCAndReadsMetrics stands in for Runnel's admin listener.
func TestMemoryForcesGCAndReadsMetrics(t *testing.T) {
	var gcs atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/heap", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("gc") == "1" {
			gcs.Add(1)
		}
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("# TYPE go_goroutines gauge\ngo_goroutines 17\ngo_memstats_heap_inuse_bytes 4.194304e+06\n"))
	})
	admin := httptest.NewServer(mux)
	defer admin.Close()
	m, err := selfTarget(t, "", strings.TrimPrefix(admin.URL, "http://")).memory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if gcs.Load() != 1 || m.Goroutines != 17 || m.HeapInUse != 4<<20 || m.RSS <= 0 {
		t.Fatalf("%d GCs, %+v", gcs.Load(), m)
	}
}

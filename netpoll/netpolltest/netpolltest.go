// Package netpolltest measures what idle connections cost a server in the
// test's own process: a child process (the test binary run again) holds
// the connections, so that the heap measured is the server's alone and
// the file descriptors are split between two processes. The broker's and
// netpoll's tests use it.
package netpolltest

import (
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// Environment of the child process.
const (
	envAddr = "NETPOLLTEST_IDLE_ADDR"
	envN    = "NETPOLLTEST_IDLE_N"
)

// HoldIdle starts the test binary again, running only the test named
// helper (which must call ChildMain), to open n connections to addr and
// hold them idle. It returns once opened, the server's count of open
// connections, reaches n, and closes them when tb ends.
func HoldIdle(tb testing.TB, helper, addr string, n int, opened func() int) {
	tb.Helper()
	child := exec.Command(os.Args[0], "-test.run=^"+helper+"$")
	child.Env = append(os.Environ(), envAddr+"="+addr, envN+"="+strconv.Itoa(n))
	stdin, err := child.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close() // the child closes its connections and exits
		child.Wait()
	})
	deadline := time.Now().Add(2 * time.Minute)
	for opened() < n {
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d idle connections open", opened(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ChildMain is the body of the helper test that HoldIdle runs: it opens
// the connections and holds them until its stdin closes. Run directly (by
// go test), it skips.
func ChildMain(t *testing.T) {
	addr := os.Getenv(envAddr)
	if addr == "" {
		t.Skip("the child process of netpolltest.HoldIdle")
	}
	n, _ := strconv.Atoi(os.Getenv(envN))
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}

// HeapInUse is the heap and stack memory in use after two GCs: the second
// empties what the first left in sync.Pools' victim caches.
func HeapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

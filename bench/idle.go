package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

// IdleResult is the idle-connections scenario against one target: the
// broker's memory before and after Connections clients connected, did one
// ApiVersions round trip each and then stayed open and idle.
type IdleResult struct {
	Connections int `json:"connections"`
	// ConnectSeconds is how long opening them took, round trips included.
	ConnectSeconds float64 `json:"connect_seconds"`
	// GCForced says that a GC ran in the broker before each reading
	// (Runnel, through its admin listener). Without one the readings
	// include garbage not yet collected.
	GCForced bool         `json:"gc_forced"`
	Before   BrokerMemory `json:"before"`
	After    BrokerMemory `json:"after"`
	// RSSPerConnection and HeapPerConnection are the growth from Before
	// to After divided by Connections, in bytes (heap: 0 for a target
	// without metrics).
	RSSPerConnection  float64 `json:"rss_per_connection_bytes"`
	HeapPerConnection float64 `json:"heap_per_connection_bytes,omitempty"`
}

// BrokerMemory is one reading of a broker process's memory.
type BrokerMemory struct {
	RSS int64 `json:"rss_bytes"` // VmRSS
	// HeapInUse and Goroutines are Runnel's go_memstats_heap_inuse_bytes
	// and go_goroutines (/metrics on its admin listener); 0 for a peer.
	HeapInUse  int64 `json:"heap_inuse_bytes,omitempty"`
	Goroutines int   `json:"goroutines,omitempty"`
}

const (
	// idleFor is how long the connections stay idle before the second
	// reading, so that whatever a broker does lazily has happened.
	idleFor = 2 * time.Second
	// idleDialers open the connections in parallel.
	idleDialers = 16
	// fdMargin is how many file descriptors the harness and the broker
	// need besides the idle connections: listeners, logs, data files,
	// the admin listener's connections.
	fdMargin = 200
	// roundTripTimeout bounds one connection's dial and ApiVersions
	// round trip, so that a broker that stops answering fails the run.
	roundTripTimeout = 10 * time.Second
	// maxApiVersionsResponse caps the response size read, well above
	// the few hundred bytes a broker's list of APIs takes.
	maxApiVersionsResponse = 1 << 20
)

// measureIdle opens n connections to t, each set up by one ApiVersions
// round trip, keeps them idle for idleFor and reads t's memory before and
// after. It closes the connections before it returns.
func measureIdle(ctx context.Context, t *target, n int) (*IdleResult, error) {
	if err := checkFDs(t.cmd.Process.Pid, n); err != nil {
		return nil, err
	}
	res := &IdleResult{Connections: n, GCForced: t.admin != ""}
	var err error
	if res.Before, err = t.memory(ctx); err != nil {
		return nil, err
	}
	start := time.Now()
	conns, err := openIdle(ctx, t.addr, n)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	res.ConnectSeconds = time.Since(start).Seconds()
	select {
	case <-time.After(idleFor):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if res.After, err = t.memory(ctx); err != nil {
		return nil, err
	}
	if closed := countClosed(conns); closed > 0 {
		return nil, fmt.Errorf("bench: the broker closed %d of the %d idle connections", closed, n)
	}
	res.RSSPerConnection = float64(res.After.RSS-res.Before.RSS) / float64(n)
	if t.admin != "" {
		res.HeapPerConnection = float64(res.After.HeapInUse-res.Before.HeapInUse) / float64(n)
	}
	return res, nil
}

// Summary is a few lines for a terminal.
func (r *IdleResult) Summary() string {
	s := fmt.Sprintf("%d connections opened in %.1f s, idle %s\n", r.Connections, r.ConnectSeconds, idleFor)
	s += fmt.Sprintf("RSS   %s -> %s MiB, %s KiB per connection\n", mib(r.Before.RSS), mib(r.After.RSS), kib(r.RSSPerConnection))
	if r.GCForced {
		s += fmt.Sprintf("heap  %s -> %s MiB, %s KiB per connection; goroutines %d -> %d\n",
			mib(r.Before.HeapInUse), mib(r.After.HeapInUse), kib(r.HeapPerConnection), r.Before.Goroutines, r.After.Goroutines)
	}
	return s
}

// checkFDs fails when n connections plus fdMargin do not fit under the
// RLIMIT_NOFILE of the harness or of the broker pid. (Go raises its soft
// limit to the hard one at start, so the hard limit is what counts.)
func checkFDs(pid, n int) error {
	var own, broker unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &own); err != nil {
		return fmt.Errorf("bench: RLIMIT_NOFILE: %w", err)
	}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &broker); err != nil {
		return fmt.Errorf("bench: RLIMIT_NOFILE of the broker: %w", err)
	}
	need := uint64(n + fdMargin)
	for _, l := range []struct {
		who   string
		limit uint64
	}{{"the harness", own.Cur}, {"the broker", broker.Cur}} {
		if l.limit < need {
			return fmt.Errorf("bench: %d idle connections need %d file descriptors in %s, whose RLIMIT_NOFILE is %d: raise the hard limit (ulimit -Hn) or run the quick matrix",
				n, need, l.who, l.limit)
		}
	}
	return nil
}

// memory reads the broker's memory, after a GC if it has an admin
// listener.
func (t *target) memory(ctx context.Context) (BrokerMemory, error) {
	var m BrokerMemory
	if t.admin != "" {
		// The heap profile handler runs a GC first when asked to.
		if err := get(ctx, "http://"+t.admin+"/debug/pprof/heap?gc=1", io.Discard, 30*time.Second); err != nil {
			return m, fmt.Errorf("bench: forcing a GC: %w", err)
		}
		e, err := scrape(ctx, t.admin, 30*time.Second)
		if err != nil {
			return m, err
		}
		v, err := e.values("go_memstats_heap_inuse_bytes", "go_goroutines")
		if err != nil {
			return m, err
		}
		m.HeapInUse, m.Goroutines = int64(v["go_memstats_heap_inuse_bytes"]), int(v["go_goroutines"])
	}
	var err error
	m.RSS, err = procRSS(t.cmd.Process.Pid)
	return m, err
}

// openIdle opens n connections to addr, idleDialers at a time, each of
// which has done one ApiVersions round trip so that the broker has set it
// up fully. On an error it closes those it opened.
func openIdle(ctx context.Context, addr string, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	var next atomic.Int64
	var failed atomic.Bool
	var firstErr error // written only by the dialer that set failed
	var dialers sync.WaitGroup
	for range idleDialers {
		dialers.Go(func() {
			for !failed.Load() && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := apiVersionsConn(ctx, addr, int32(i))
				if err != nil {
					if failed.CompareAndSwap(false, true) {
						firstErr = fmt.Errorf("bench: idle connection %d of %d: %w", i+1, n, err)
					}
					return
				}
				conns[i] = c
			}
		})
	}
	dialers.Wait()
	err := firstErr
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		closeAll(conns)
		return nil, err
	}
	return conns, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// idleClient formats the idle connections' requests.
var idleClient = kmsg.NewRequestFormatter(kmsg.FormatterClientID("runnel-bench"))

// apiVersionsConn dials addr and does one ApiVersions v3 round trip, as a
// client does first on a new connection. v3 is flexible, so its request
// header is v2 (v1's size, key, version, correlation id and client id,
// then tagged fields); the response header is v0 at every version.
func apiVersionsConn(ctx context.Context, addr string, correlationID int32) (net.Conn, error) {
	d := net.Dialer{Timeout: roundTripTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := apiVersions(c, correlationID); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func apiVersions(c net.Conn, correlationID int32) error {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "runnel-bench", "1"
	if err := c.SetDeadline(time.Now().Add(roundTripTimeout)); err != nil {
		return err
	}
	if _, err := c.Write(idleClient.AppendRequest(nil, req, correlationID)); err != nil {
		return fmt.Errorf("ApiVersions request: %w", err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return fmt.Errorf("ApiVersions response: %w", err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > maxApiVersionsResponse {
		return fmt.Errorf("ApiVersions response of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil {
		return fmt.Errorf("ApiVersions response: %w", err)
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != correlationID {
		return fmt.Errorf("ApiVersions response has correlation id %d, want %d", got, correlationID)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = req.Version
	if err := resp.ReadFrom(body[4:]); err != nil {
		return fmt.Errorf("ApiVersions response: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("ApiVersions: %w", err)
	}
	return c.SetDeadline(time.Time{})
}

// countClosed counts the connections whose peer has closed them: a
// non-blocking peek finds neither bytes waiting nor EAGAIN (nothing yet)
// but end of file or an error.
func countClosed(conns []net.Conn) int {
	closed := 0
	var b [1]byte
	for _, c := range conns {
		rc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			closed++
			continue
		}
		open := false
		if err := rc.Control(func(fd uintptr) {
			n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			open = err == unix.EAGAIN || (err == nil && n > 0)
		}); err != nil || !open {
			closed++
		}
	}
	return closed
}

func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

func kib(b float64) string { return fmt.Sprintf("%.1f", b/1024) }

package sendfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dataFile writes size pseudo-random bytes to a new file and returns it, open read-only, with
// its contents.
func dataFile(t testing.TB, size int) (*os.File, []byte) {
	t.Helper()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(size), 7))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), "segment.log")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, data
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *net.TCPConn, 1)
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	client, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// readAll reads exactly n bytes from c in the background.
func readAll(c net.Conn, n int64) <-chan []byte {
	out := make(chan []byte, 1)
	go func() {
		buf := make([]byte, n)
		if _, err := io.ReadFull(c, buf); err != nil {
			buf = nil
		}
		out <- buf
	}()
	return out
}

// withSendfile replaces the sendfile system call for one test.
func withSendfile(t *testing.T, fn func(outfd, infd int, offset *int64, count int) (int, error)) {
	orig := sendfileSyscall
	sendfileSyscall = fn
	t.Cleanup(func() { sendfileSyscall = orig })
}

func TestSendRanges(t *testing.T) {
	const size = 3<<20 + 123
	f, data := dataFile(t, size)
	cases := []struct{ off, n int64 }{
		{0, size},
		{0, 1},
		{size - 1, 1},
		{4095, 4097},
		{1 << 20, 1<<20 + 5},
		{17, 0},
		{size, 0},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("off=%d/n=%d", c.off, c.n), func(t *testing.T) {
			src, dst := tcpPair(t)
			got := readAll(dst, c.n)
			w, err := Send(src, f, c.off, c.n)
			if err != nil || w != c.n {
				t.Fatalf("Send = %d, %v; want %d, nil", w, err, c.n)
			}
			if b := <-got; !bytes.Equal(b, data[c.off:c.off+c.n]) {
				t.Fatal("received bytes differ from the file range")
			}
		})
	}
}

// TestSendResumesAfterEAGAIN sends through a tiny socket buffer to a reader that takes small
// bites slowly, so sendfile returns short counts and EAGAIN many times and Send must resume
// from the right offset each time.
func TestSendResumesAfterEAGAIN(t *testing.T) {
	const size = 1 << 20
	const off = 777
	f, data := dataFile(t, size)
	src, dst := tcpPair(t)
	if err := src.SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	if err := dst.SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	var calls, eagains, short atomic.Int64
	withSendfile(t, func(outfd, infd int, offset *int64, count int) (int, error) {
		calls.Add(1)
		n, err := unix.Sendfile(outfd, infd, offset, count)
		if err == unix.EAGAIN {
			eagains.Add(1)
		} else if err == nil && n < count {
			short.Add(1)
		}
		return n, err
	})
	got := make(chan []byte, 1)
	go func() {
		var out []byte
		buf := make([]byte, 16<<10)
		for len(out) < size-off {
			time.Sleep(time.Millisecond) // a slow reader on purpose: Send must meet a full socket

			n, err := dst.Read(buf)
			if err != nil {
				break
			}
			out = append(out, buf[:n]...)
		}
		got <- out
	}()
	w, err := Send(src, f, off, size-off)
	if err != nil || w != size-off {
		t.Fatalf("Send = %d, %v; want %d, nil", w, err, size-off)
	}
	if b := <-got; !bytes.Equal(b, data[off:]) {
		t.Fatal("received bytes differ from the file range")
	}
	t.Logf("%d sendfile calls, %d short, %d EAGAIN", calls.Load(), short.Load(), eagains.Load())
	if eagains.Load() == 0 {
		t.Fatal("EAGAIN never happened; the test did not exercise resumption")
	}
}

// TestConcurrentSendsOfOneFile sends different ranges of one *os.File over several
// connections at once; with a shared file position the ranges would get mixed up.
func TestConcurrentSendsOfOneFile(t *testing.T) {
	const size = 8 << 20
	const senders = 8
	f, data := dataFile(t, size)
	const pos = 12345
	if _, err := f.Seek(pos, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for i := range senders {
		src, dst := tcpPair(t)
		src.SetWriteBuffer(16 << 10) // make the sends interleave
		off := int64(i) * size / senders
		n := int64(size/senders) - int64(i*1000)
		wg.Go(func() {
			got := readAll(dst, n)
			for round := range 3 {
				w, err := Send(src, f, off, n)
				if err != nil || w != n {
					errs <- fmt.Errorf("sender %d: Send = %d, %v", i, w, err)
					return
				}
				if !bytes.Equal(<-got, data[off:off+n]) {
					errs <- fmt.Errorf("sender %d round %d: received bytes differ", i, round)
					return
				}
				got = readAll(dst, n)
			}
			src.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p, err := f.Seek(0, io.SeekCurrent); err != nil || p != pos {
		t.Fatalf("file position is %d (%v) after sends, want %d untouched", p, err, pos)
	}
}

func TestSendPastEOF(t *testing.T) {
	const size = 10000
	f, data := dataFile(t, size)
	src, dst := tcpPair(t)
	got := readAll(dst, 1000)
	w, err := Send(src, f, size-1000, 5000)
	if !errors.Is(err, io.ErrUnexpectedEOF) || w != 1000 {
		t.Fatalf("Send = %d, %v; want 1000, ErrUnexpectedEOF", w, err)
	}
	if !bytes.Equal(<-got, data[size-1000:]) {
		t.Fatal("received bytes differ from the file's tail")
	}
}

func TestSendFallsBackToCopy(t *testing.T) {
	for _, errno := range []syscall.Errno{unix.EINVAL, unix.ENOSYS, unix.EOPNOTSUPP} {
		t.Run(errno.Error(), func(t *testing.T) {
			const size = 1<<20 + 99
			f, data := dataFile(t, size)
			// Unsupported after some bytes went out the fast way: the copy continues from there.
			calls := 0
			withSendfile(t, func(outfd, infd int, offset *int64, count int) (int, error) {
				calls++
				if calls == 1 {
					return unix.Sendfile(outfd, infd, offset, min(count, 5000))
				}
				return -1, errno
			})
			src, dst := tcpPair(t)
			src.SetWriteBuffer(8 << 10) // the copy has to wait for writability too
			got := readAll(dst, size-3)
			w, err := Send(src, f, 3, size-3)
			if err != nil || w != size-3 {
				t.Fatalf("Send = %d, %v; want %d, nil", w, err, size-3)
			}
			if !bytes.Equal(<-got, data[3:]) {
				t.Fatal("received bytes differ from the file range")
			}
		})
	}
}

func TestSendFallbackPastEOF(t *testing.T) {
	f, data := dataFile(t, 5000)
	withSendfile(t, func(int, int, *int64, int) (int, error) { return -1, unix.EINVAL })
	src, dst := tcpPair(t)
	got := readAll(dst, 1000)
	w, err := Send(src, f, 4000, 2000)
	if !errors.Is(err, io.ErrUnexpectedEOF) || w != 1000 {
		t.Fatalf("Send = %d, %v; want 1000, ErrUnexpectedEOF", w, err)
	}
	if !bytes.Equal(<-got, data[4000:]) {
		t.Fatal("received bytes differ from the file's tail")
	}
}

func TestSendErrors(t *testing.T) {
	f, _ := dataFile(t, 1<<20)
	t.Run("invalid range", func(t *testing.T) {
		src, _ := tcpPair(t)
		for _, r := range [][2]int64{{-1, 10}, {0, -1}} {
			if _, err := Send(src, f, r[0], r[1]); err == nil {
				t.Errorf("Send(%d, %d) accepted", r[0], r[1])
			}
		}
	})
	t.Run("deadline", func(t *testing.T) {
		src, dst := tcpPair(t) // nobody reads
		src.SetWriteBuffer(4096)
		dst.SetReadBuffer(4096)
		src.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		w, err := Send(src, f, 0, 1<<20)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Send = %d, %v; want ErrDeadlineExceeded", w, err)
		}
		if w <= 0 || w >= 1<<20 {
			t.Fatalf("wrote %d bytes before the deadline, want some but not all", w)
		}
	})
	t.Run("peer closed", func(t *testing.T) {
		src, dst := tcpPair(t)
		dst.SetLinger(0)
		dst.Close()
		// A send before the reset arrives may be accepted: wait until a
		// read sees it.
		src.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := src.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read after the peer's reset: %v, want ECONNRESET", err)
		}
		_, err := Send(src, f, 0, 1<<20)
		if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("Send to a closed peer: %v, want EPIPE or ECONNRESET", err)
		}
	})
	t.Run("closed connection", func(t *testing.T) {
		src, _ := tcpPair(t)
		src.Close()
		if _, err := Send(src, f, 0, 10); err == nil {
			t.Fatal("Send on a closed connection succeeded")
		}
	})
	t.Run("closed file", func(t *testing.T) {
		g, _ := dataFile(t, 100)
		g.Close()
		src, _ := tcpPair(t)
		if _, err := Send(src, g, 0, 10); !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Send of a closed file: %v, want ErrClosed", err)
		}
	})
}

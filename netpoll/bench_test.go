//go:build linux

package netpoll

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkEcho sends frames through an echo server over loopback, with
// netpoll and with the raw baseline of a goroutine per connection reading
// with bufio and writing each reply, in the same run. Each connection keeps
// 64 frames in flight. The 6 MiB frames are the size of a franz-go
// produce request that carries six partitions' 1 MB batches.
//
//	go test -run '^$' -bench BenchmarkEcho -count 5 ./netpoll
func BenchmarkEcho(b *testing.B) {
	servers := []struct {
		name  string
		start func(b *testing.B) string
	}{
		{"impl=netpoll", func(b *testing.B) string {
			_, addr := startServer(b, Config{}, newTestHandler(pooledEcho))
			return addr
		}},
		{"impl=goroutines", startGoroutineEcho},
	}
	for _, size := range []int{100, 16 << 10, 6 << 20} {
		for _, conns := range []int{1, 16} {
			for _, srv := range servers {
				b.Run(fmt.Sprintf("size=%d/conns=%d/%s", size, conns, srv.name), func(b *testing.B) {
					addr := srv.start(b)
					frame := binary.BigEndian.AppendUint32(nil, uint32(size))
					frame = append(frame, make([]byte, size)...)
					cs := make([]*net.TCPConn, conns)
					for i := range cs {
						cs[i] = dial(b, addr, 0)
					}
					b.SetBytes(int64(len(frame)))
					b.ReportAllocs()
					b.ResetTimer()
					var wg sync.WaitGroup
					for i, c := range cs {
						wg.Add(1)
						go func() {
							defer wg.Done()
							n := b.N / conns
							if i < b.N%conns {
								n++
							}
							pingPong(b, c, frame, n, 64)
						}()
					}
					wg.Wait()
				})
			}
		}
	}
}

// pingPong sends n frames, at most window unanswered, and reads the echoes.
func pingPong(b *testing.B, c *net.TCPConn, frame []byte, n, window int) {
	sent := make(chan struct{}, window)
	go func() {
		w := bufio.NewWriterSize(c, 64<<10)
		for range n {
			sent <- struct{}{}
			w.Write(frame)
			if len(sent) == cap(sent) || len(sent) == 1 {
				w.Flush()
			}
		}
		w.Flush()
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	buf := make([]byte, len(frame))
	for range n {
		if _, err := io.ReadFull(r, buf); err != nil {
			b.Error(err)
			return
		}
		<-sent
	}
}

// startGoroutineEcho is the baseline: Go's net package, a goroutine per
// connection.
func startGoroutineEcho(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReaderSize(c, 64<<10)
				w := bufio.NewWriterSize(c, 64<<10)
				var size [4]byte
				var body []byte
				for {
					if _, err := io.ReadFull(r, size[:]); err != nil {
						return
					}
					n := binary.BigEndian.Uint32(size[:])
					if cap(body) < int(n) {
						body = make([]byte, n)
					}
					if _, err := io.ReadFull(r, body[:n]); err != nil {
						return
					}
					w.Write(size[:])
					w.Write(body[:n])
					if r.Buffered() == 0 {
						if w.Flush() != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

var echoBuffers = sync.Pool{New: func() any { return new([]byte) }}

// pooledEcho echoes a frame from a reused buffer, as the baseline does.
func pooledEcho(c *Conn, frame []byte) {
	bp := echoBuffers.Get().(*[]byte)
	out := binary.BigEndian.AppendUint32((*bp)[:0], uint32(len(frame)))
	out = append(out, frame...)
	r := c.NewReply()
	r.AddBytes(out)
	r.Finish(func() {
		*bp = out
		echoBuffers.Put(bp)
	})
}

// BenchmarkFinishElsewhere is one connection's ping-pong (one frame in
// flight, 1 KiB) whose replies are finished on the loop (in OnFrame) or by
// another goroutine, as a produce's reply is finished by the flusher after
// its sync: written by that goroutine (Reply.Finish's direct write), or
// (worker-via-loop) handed to the loop, which is woken to write it.
// finish-to-read-ns is the mean time from Finish's call to the
// client's read of the reply: the hop from the finishing goroutine to the
// socket.
//
//	go test -run '^$' -bench BenchmarkFinishElsewhere -count 5 ./netpoll
func BenchmarkFinishElsewhere(b *testing.B) {
	for _, gap := range []time.Duration{0, 100 * time.Microsecond} {
		for _, where := range []string{"loop", "worker", "worker-via-loop"} {
			b.Run(fmt.Sprintf("gap=%v/finish=%s", gap, where), func(b *testing.B) {
				finishElsewhere(b, gap, where)
			})
		}
	}
}

// finishElsewhere is one run of BenchmarkFinishElsewhere: a ping-pong whose
// requests are sent gap apart (the loop parks between them when gap > 0).
func finishElsewhere(b *testing.B, gap time.Duration, where string) {
	if where == "worker-via-loop" {
		directWrites = false // the loop writes every reply, as before direct writes
		defer func() { directWrites = true }()
	}
	{
		{
			var finishedAt atomic.Int64
			work := make(chan *Reply, 1)
			fn := func(c *Conn, frame []byte) {
				r := c.NewReply()
				out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(frame)), uint32(len(frame)))
				r.AddBytes(append(out, frame...))
				if where == "loop" {
					finishedAt.Store(time.Now().UnixNano())
					r.Finish(nil)
					return
				}
				work <- r
			}
			done := make(chan struct{})
			defer close(done)
			go func() {
				for {
					select {
					case r := <-work:
						finishedAt.Store(time.Now().UnixNano())
						r.Finish(nil)
					case <-done:
						return
					}
				}
			}()
			_, addr := startServer(b, Config{}, newTestHandler(fn))
			c := dial(b, addr, 0)
			frame := binary.BigEndian.AppendUint32(nil, 1024)
			frame = append(frame, make([]byte, 1024)...)
			buf := make([]byte, len(frame))
			var hop time.Duration
			b.ResetTimer()
			for range b.N {
				if gap > 0 {
					time.Sleep(gap)
				}
				if _, err := c.Write(frame); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
				hop += time.Duration(time.Now().UnixNano() - finishedAt.Load())
			}
			b.ReportMetric(float64(hop.Nanoseconds())/float64(b.N), "finish-to-read-ns")
		}
	}
}

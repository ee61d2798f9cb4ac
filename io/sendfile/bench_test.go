package sendfile

import (
	"fmt"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkSend sends a file range to a loopback TCP reader, with Send (sendfile) and with the
// raw baseline of a pread+write loop through a 256 KiB buffer, in the same run. An iteration
// ends when the reader has received the whole range. cpu-ns/op is the CPU time of the whole
// process (sender and reader) per send.
//
//	go test -run '^$' -bench BenchmarkSend -count 5 ./io/sendfile
func BenchmarkSend(b *testing.B) {
	for _, size := range []int64{64 << 10, 1 << 20, 64 << 20} {
		f, _ := dataFile(b, int(size)+4096)
		const off = 4096
		impls := []struct {
			name string
			send func(c *net.TCPConn, buf []byte) error
		}{
			{"impl=sendfile", func(c *net.TCPConn, _ []byte) error {
				_, err := Send(c, f, off, size)
				return err
			}},
			{"impl=pread+write", func(c *net.TCPConn, buf []byte) error {
				for pos := int64(off); pos < off+size; {
					n, err := f.ReadAt(buf[:min(int64(len(buf)), off+size-pos)], pos)
					if err != nil {
						return err
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return err
					}
					pos += int64(n)
				}
				return nil
			}},
		}
		for _, impl := range impls {
			b.Run(fmt.Sprintf("size=%d/%s", size, impl.name), func(b *testing.B) {
				src, dst := tcpPair(b)
				received := make(chan struct{})
				go drain(dst, size, received)
				buf := make([]byte, 256<<10)
				b.SetBytes(size)
				b.ReportAllocs()
				cpu := processCPU(b)
				for b.Loop() {
					if err := impl.send(src, buf); err != nil {
						b.Fatal(err)
					}
					<-received
				}
				b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
				src.Close()
			})
		}
	}
}

// processCPU returns the user+system CPU time the process has used, in nanoseconds: on
// loopback the reader's copy costs as much as the sender's, so CPU per byte tells sendfile's
// saving better than throughput does.
func processCPU(b *testing.B) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// drain reads from c until it fails, signalling on received after every size bytes.
func drain(c *net.TCPConn, size int64, received chan<- struct{}) {
	buf := make([]byte, 256<<10)
	var got int64
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		for got += int64(n); got >= size; got -= size {
			received <- struct{}{}
		}
	}
}

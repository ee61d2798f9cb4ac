package sendfile

import (
	"fmt"
	"net"
	"testing"
)

// BenchmarkSend sends a file range to a loopback TCP reader, with Send (sendfile) and with the
// raw baseline of a pread+write loop through a 256 KiB buffer, in the same run. An iteration
// ends when the reader has received the whole range.
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
				for b.Loop() {
					if err := impl.send(src, buf); err != nil {
						b.Fatal(err)
					}
					<-received
				}
				src.Close()
			})
		}
	}
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

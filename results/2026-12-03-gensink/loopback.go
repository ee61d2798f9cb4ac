//go:build ignore

// Command loopback is the floor of what the load generator's bytes cost on
// loopback TCP with nothing but TCP at either end: a receiver process
// discards everything it gets with recv(MSG_TRUNC), as the sink discards
// record bytes, and sender processes write a 1 MB buffer in a loop on
// CONNS connections each, as `runnel loadgen --raw` writes its batches
// (write), or send the same 1 MB from a memfd with sendfile (sendfile: no
// copy from user space at all). Each prints GB/s and its own CPU seconds
// per GB. Usage: go run loopback.go recv ADDR | send ADDR SECONDS CONNS write|sendfile.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const chunk = 1_000_000

func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	addr := os.Args[2]
	if os.Args[1] == "recv" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			panic(err)
		}
		var total atomic.Int64
		go func() {
			for last, lastCPU := int64(0), cpu(); ; {
				time.Sleep(5 * time.Second)
				n, c := total.Load(), cpu()
				if d := n - last; d > 0 {
					fmt.Printf("recv %.2f GB/s, %.3f CPU s/GB\n", float64(d)/5e9, (c-lastCPU).Seconds()/(float64(d)/1e9))
				}
				last, lastCPU = n, c
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				panic(err)
			}
			go func() {
				rc, _ := c.(*net.TCPConn).SyscallConn()
				for {
					var got int
					var errno syscall.Errno
					err := rc.Read(func(fd uintptr) bool {
						r, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, fd, 0, 1<<30, syscall.MSG_TRUNC, 0, 0)
						if e == syscall.EAGAIN {
							return false
						}
						got, errno = int(r), e
						return true
					})
					if err != nil || errno != 0 || got <= 0 {
						c.Close()
						return
					}
					total.Add(int64(got))
				}
			}()
		}
	}
	secs, _ := strconv.Atoi(os.Args[3])
	conns, _ := strconv.Atoi(os.Args[4])
	mode := os.Args[5]
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = byte('a' + i%16)
	}
	var file *os.File
	if mode == "sendfile" {
		fd, err := unix.MemfdCreate("batch", 0)
		if err != nil {
			panic(err)
		}
		file = os.NewFile(uintptr(fd), "batch")
		if _, err := file.Write(buf); err != nil {
			panic(err)
		}
	}
	var total atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			panic(err)
		}
		wg.Go(func() {
			defer c.Close()
			for !stop.Load() {
				var n int64
				var err error
				if file != nil {
					n, err = sendfile(c.(*net.TCPConn), int(file.Fd()), chunk)
				} else {
					var m int
					m, err = c.Write(buf)
					n = int64(m)
				}
				if err != nil {
					panic(err)
				}
				total.Add(n)
			}
		})
	}
	time.Sleep(time.Second) // warm-up
	n0, c0, t0 := total.Load(), cpu(), time.Now()
	time.Sleep(time.Duration(secs) * time.Second)
	n1, c1, t1 := total.Load(), cpu(), time.Now()
	stop.Store(true)
	wg.Wait()
	gb := float64(n1-n0) / 1e9
	fmt.Printf("send %s %.2f GB/s, %.3f CPU s/GB\n", mode, gb/t1.Sub(t0).Seconds(), (c1-c0).Seconds()/gb)
}

// sendfile sends n bytes of the file from offset 0 on c.
func sendfile(c *net.TCPConn, in, n int) (int64, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var off int64
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		for off < int64(n) {
			m, err := unix.Sendfile(int(fd), in, &off, n-int(off))
			if err == unix.EAGAIN {
				return false
			}
			if err != nil {
				serr = err
				return true
			}
			if m == 0 {
				break
			}
		}
		return true
	})
	if err == nil {
		err = serr
	}
	return off, err
}

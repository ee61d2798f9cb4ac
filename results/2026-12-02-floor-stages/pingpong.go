//go:build ignore

// Command pingpong is the floor of what a request and its response cost on loopback TCP
// without a broker: a server process answers each 1,154-byte request (a one-record Produce
// v7's size) with 54 bytes (its response's), and a client in another process sends one every
// millisecond, paced with nanosleep, and times each round trip from the intended send time,
// as runnel loadgen --raw does. Usage: go run pingpong.go server ADDR | client ADDR SECONDS.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

const reqSize, respSize = 1154, 54

func main() {
	addr := os.Args[2]
	if os.Args[1] == "server" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			panic(err)
		}
		for {
			c, err := ln.Accept()
			if err != nil {
				panic(err)
			}
			go func() {
				buf, resp := make([]byte, reqSize), make([]byte, respSize)
				for {
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					c.Write(resp)
				}
			}()
		}
	}
	secs, _ := strconv.Atoi(os.Args[3])
	c, err := net.Dial("tcp", addr)
	if err != nil {
		panic(err)
	}
	sent := make(chan time.Time, 1024)
	var rtts []time.Duration
	done := make(chan struct{})
	go func() {
		buf := make([]byte, respSize)
		for due := range sent {
			if _, err := io.ReadFull(c, buf); err != nil {
				panic(err)
			}
			rtts = append(rtts, time.Since(due))
		}
		close(done)
	}()
	runtime.LockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	req := make([]byte, reqSize)
	start := time.Now()
	for i := 0; i < secs*1000; i++ {
		due := start.Add(time.Duration(i) * time.Millisecond)
		if d := time.Until(due); d > 2*time.Millisecond {
			time.Sleep(d - 2*time.Millisecond)
		}
		if d := time.Until(due); d > 0 {
			ts := unix.NsecToTimespec(int64(d))
			unix.Nanosleep(&ts, nil)
		}
		sent <- due
		c.Write(req)
	}
	close(sent)
	<-done
	slices.Sort(rtts)
	n := len(rtts)
	fmt.Printf("round trips %d: p50 %.0f µs, p90 %.0f, p99 %.0f, p99.9 %.0f\n", n,
		float64(rtts[n/2].Microseconds()), float64(rtts[n*9/10].Microseconds()), float64(rtts[n*99/100].Microseconds()), float64(rtts[n*999/1000].Microseconds()))
}

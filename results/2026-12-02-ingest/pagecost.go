// Command pagecost measures what a buffered write costs depending on where its page cache pages
// come from: 1 GiB in 1 MiB pwrites with an fdatasync every 16 MiB per mode, each to a new file
// that is kept until the end, so that a plain write grows the page cache into free memory as a
// broker does. Modes: plain; drop (POSIX_FADV_DONTNEED of each synced 16 MiB, so the next
// writes reuse those pages); fallocate and fallocate-drop (the file fallocated up front, as a
// segment is); direct (O_DIRECT, no page cache). Usage: pagecost DIR MODE...
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

const (
	total     = 1 << 30
	chunk     = 1 << 20
	syncEvery = 16 << 20
)

func cpu() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	dir := os.Args[1]
	buf, err := unix.Mmap(-1, 0, chunk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		panic(err)
	}
	for i := range buf {
		buf[i] = byte(i)
	}
	for i, mode := range os.Args[2:] {
		path := filepath.Join(dir, fmt.Sprintf("pagecost.%d", i))
		defer os.Remove(path)
		flags := os.O_CREATE | os.O_RDWR | os.O_TRUNC
		if mode == "direct" {
			flags |= unix.O_DIRECT
		}
		f, err := os.OpenFile(path, flags, 0o644)
		if err != nil {
			panic(err)
		}
		fd := int(f.Fd())
		drop := mode == "drop" || mode == "fallocate-drop"
		if mode == "fallocate" || mode == "fallocate-drop" {
			if err := unix.Fallocate(fd, 0, 0, total); err != nil {
				panic(err)
			}
		}
		c0, t0 := cpu(), time.Now()
		for off := int64(0); off < total; off += chunk {
			if _, err := unix.Pwrite(fd, buf, off); err != nil {
				panic(err)
			}
			if end := off + chunk; end%syncEvery == 0 {
				if err := unix.Fdatasync(fd); err != nil {
					panic(err)
				}
				if drop {
					if err := unix.Fadvise(fd, end-syncEvery, syncEvery, unix.FADV_DONTNEED); err != nil {
						panic(err)
					}
				}
			}
		}
		d := time.Since(t0)
		fmt.Printf("%-15s %6.0f MB/s %5.2f CPU s/GiB\n", mode, total/d.Seconds()/1e6, (cpu() - c0).Seconds())
		f.Close()
	}
}

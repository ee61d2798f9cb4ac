package segment_test

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"runnel/segment"
)

// pageCacheBytes returns how many bytes of [off, off+n) of the file at path are in the page
// cache (mincore over a read-only mapping of it, which faults nothing in); n < 0 means to the
// end of the file. It skips the test on tmpfs, whose page cache is the file's only copy.
func pageCacheBytes(t testing.TB, path string, off, n int64) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == unix.TMPFS_MAGIC {
		t.Skip("tmpfs keeps every page in memory")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if n < 0 {
		n = info.Size() - off
	}
	page := int64(os.Getpagesize())
	from := off / page * page
	m, err := unix.Mmap(int(f.Fd()), from, int(off+n-from), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (int64(len(m))+page-1)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	var cached int64
	for _, v := range vec {
		cached += int64(v & 1)
	}
	return cached * page
}

// mapped reports whether the process maps the file at path (/proc/self/maps).
func mapped(t testing.TB, path string) bool {
	t.Helper()
	path, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// range perms offset dev inode [path]
		if fields := strings.Fields(sc.Text()); len(fields) >= 6 && fields[5] == path {
			return true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return false
}

// TestSyncDropsPagesAndReadsMapNone appends 64 MiB in batches of 16 and of 64 KiB, with
// Config.DropBehind, read as they come by a consumer at the log end, and checks that the
// process never maps the .log (its reads use pread: a page read through a mapping counted in
// the process's resident set, RssFile, until unmapped), that the pages a Sync made durable
// leave the page cache (only a bounded tail near the write position stays cached), that nothing
// is let go before it is synced (the unsynced bytes before the first Sync and after the last
// stay cached), and that every byte still reads back the same, from what was dropped to disk
// and after a reopen.
func TestSyncDropsPagesAndReadsMapNone(t *testing.T) {
	const (
		unsynced = 32 << 20 // appended before the first Sync
		total    = 64 << 20
		tail     = 4 << 20  // appended after the last Sync
		bound    = 16 << 20 // keep window + drop steps, with room to spare
	)
	for _, batchBytes := range []int{16 << 10, 64 << 10} {
		t.Run(fmt.Sprintf("batch=%dKiB", batchBytes>>10), func(t *testing.T) {
			dir := t.TempDir()
			cfg := segment.DefaultConfig()
			cfg.SegmentBytes = 128 << 20
			cfg.DropBehind = true
			cfg.CacheKeepBytes = 0 // the least keep window, 1 MiB (TestDropBehindKeepsWindow keeps more)
			l := openTestLog(t, dir, cfg, 0, true)
			logPath := filepath.Join(dir, "00000000000000000000.log")
			rng := rand.New(rand.NewSource(1))
			var want [][]byte
			appended := 0
			appendBytes := func(n int) { // and read them, as a consumer at the log end
				from := l.EndOffset()
				for end := appended + n; appended < end; {
					b := randomBatch(rng, batchBytes, 1)
					mustAppend(t, l, b)
					want = append(want, b)
					appended += len(b)
				}
				readAllBatches(t, l, from, false)
			}

			appendBytes(unsynced)
			if mapped(t, logPath) {
				t.Fatalf("after appends and reads the process maps %s", logPath)
			}
			// The kernel may write back and reclaim a few pages on its own
			// (the CI VM runs DAMON with a pageout scheme: once, 16 KiB of
			// the 32 MiB were gone), so "most of them", which is still
			// twice the bound the Syncs must bring it under.
			if cached := pageCacheBytes(t, logPath, 0, int64(appended)); cached < int64(appended)*3/4 {
				t.Fatalf("before any Sync %d of the %d bytes appended are in the page cache", cached, appended)
			}
			if _, err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			for appended < total {
				appendBytes(1 << 20)
				if _, err := l.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			if cached := pageCacheBytes(t, logPath, 0, -1); cached > bound {
				t.Fatalf("after %d bytes appended and synced the page cache holds %d bytes of the segment, want at most %d", appended, cached, bound)
			}
			// A consumer far behind reads from disk, and maps nothing either.
			readAllBatches(t, l, 0, false)
			if mapped(t, logPath) {
				t.Fatalf("after a read of the whole log the process maps %s", logPath)
			}
			appendBytes(1 << 20)
			if _, err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			synced := int64(appended)
			appendBytes(tail)
			if cached := pageCacheBytes(t, logPath, synced, int64(appended)-synced); cached < int64(appended)-synced {
				t.Fatalf("%d of the %d bytes appended after the last Sync are in the page cache", cached, int64(appended)-synced)
			}

			equalBatches(t, readAllBatches(t, l, 0, false), want)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openTestLog(t, dir, cfg, 0, true)
			equalBatches(t, readAllBatches(t, l, 0, false), want)
		})
	}
}

package broker_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	"runnel/broker/brokertest"
)

// TestDescribeLogDirs asks a broker with two log dirs, over TCP with kadm,
// where its partitions are and how large they are: every partition in
// exactly one dir, named by its absolute path; the sizes those of the
// .log files after a clean restart (which trims them to their batches);
// the volume's total bytes as statfs reports them; a filter that names a
// partition the broker does not have.
func TestDescribeLogDirs(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	b := brokertest.Start(t, "log.dirs="+dirs[0]+","+dirs[1])
	adm := b.Admin(t)
	if _, err := adm.CreateTopics(ctx(t), 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopics(ctx(t), 1, 1, nil, "audit"); err != nil {
		t.Fatal(err)
	}
	produceN(t, b, "orders", 1, 100)
	produceN(t, b, "audit", 0, 7)
	b = b.Restart(t)
	adm = b.Admin(t)

	all, err := adm.DescribeAllLogDirs(ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("%d brokers answered, want 1", len(all))
	}
	var described kadm.DescribedLogDirs
	var node int32
	for node, described = range all {
	}
	if len(described) != 2 {
		t.Fatalf("%d log dirs, want 2: %+v", len(described), described)
	}
	found := map[string]string{} // "topic-partition" -> dir
	for _, dir := range dirs {
		d, ok := described[dir]
		if !ok {
			t.Fatalf("log dir %s not described: %+v", dir, described)
		}
		if d.Err != nil {
			t.Errorf("%s: %v", dir, d.Err)
		}
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		if d.TotalBytes != int64(st.Blocks)*st.Frsize || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
			t.Errorf("%s: total %d usable %d bytes; statfs says total %d", dir, d.TotalBytes, d.UsableBytes, int64(st.Blocks)*st.Frsize)
		}
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			name := fmt.Sprintf("%s-%d", p.Topic, p.Partition)
			if other, dup := found[name]; dup {
				t.Errorf("%s in both %s and %s", name, other, dir)
			}
			found[name] = dir
			if want := logBytes(t, filepath.Join(dir, name)); p.Size != want || p.OffsetLag != 0 || p.IsFuture {
				t.Errorf("%s: size %d lag %d future %v; want size %d (its .log files), lag 0, not future", name, p.Size, p.OffsetLag, p.IsFuture, want)
			}
		})
	}
	for _, name := range []string{"orders-0", "orders-1", "orders-2", "audit-0"} {
		if found[name] == "" {
			t.Errorf("%s not described; found %v", name, found)
		}
	}
	if size, _ := described.LookupPartition("orders", 1); size.Size == 0 {
		t.Error("orders-1 holds 100 records but its size is 0")
	}

	// A filter: only what was asked for and exists.
	var s kadm.TopicsSet
	s.Add("orders", 1, 7)
	some, err := adm.DescribeBrokerLogDirs(ctx(t), node, s)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	some.EachPartition(func(p kadm.DescribedLogDirPartition) { got = append(got, fmt.Sprintf("%s-%d", p.Topic, p.Partition)) })
	if len(got) != 1 || got[0] != "orders-1" {
		t.Errorf("filtered to orders 1 and 7: got %v, want [orders-1]", got)
	}
}

// TestDescribeLogDirsVersions sends every version by hand: the volume's
// sizes appear from v4 on, the partitions in all.
func TestDescribeLogDirsVersions(t *testing.T) {
	b := brokertest.Start(t)
	if _, err := b.Admin(t).CreateTopics(ctx(t), 1, 1, nil, "v"); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, b)
	for v := int16(0); v <= 5; v++ {
		req := kmsg.NewPtrDescribeLogDirsRequest() // Topics nil: everything
		c.write(frame(req, v, int32(v)))
		corr, body, err := c.read()
		if err != nil || corr != int32(v) {
			t.Fatalf("v%d: correlation %d, %v", v, corr, err)
		}
		if v >= 2 {
			body = body[1:] // the response header's empty tag section
		}
		resp := kmsg.NewPtrDescribeLogDirsResponse()
		resp.Version = v
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if len(resp.Dirs) != 1 || resp.Dirs[0].ErrorCode != 0 || !slices.ContainsFunc(resp.Dirs[0].Topics,
			func(t kmsg.DescribeLogDirsResponseDirTopic) bool { return t.Topic == "v" && len(t.Partitions) == 1 }) {
			t.Fatalf("v%d: %+v", v, resp.Dirs)
		}
		if d := resp.Dirs[0]; (v >= 4) != (d.TotalBytes > 0 && d.UsableBytes > 0) {
			t.Errorf("v%d: total %d usable %d bytes", v, d.TotalBytes, d.UsableBytes)
		}
	}
}

// logBytes sums the sizes of a partition directory's .log files.
func logBytes(t *testing.T, dir string) int64 {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no .log files in %s: %v", dir, err)
	}
	var n int64
	for _, name := range names {
		info, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		n += info.Size()
	}
	return n
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"runnel/broker/brokertest"
)

// TestLogDirs runs log-dirs describe as kafka-log-dirs.sh --describe is
// run, in both forms, and checks its output: Kafka's two progress lines,
// then one JSON line with Kafka's keys in Kafka's order, the broker's log
// dir and the partitions of --topic-list with their sizes.
func TestLogDirs(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.Start(t, "log.dirs="+dir)
	bs := []string{"--bootstrap-server", b.Addr}
	mustRun(t, "", append([]string{"topics", "create", "--topic", "orders", "--partitions", "2"}, bs...)...)
	mustRun(t, "", append([]string{"topics", "create", "--topic", "audit"}, bs...)...)
	mustRun(t, "a\nb\nc\n", append([]string{"produce", "--topic", "orders", "--partition", "1"}, bs...)...)

	out := mustRun(t, "", append([]string{"log-dirs", "describe", "--topic-list", "orders"}, bs...)...)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || lines[0] != "Querying brokers for log directories information" ||
		lines[1] != "Received log directory information from brokers 1" {
		t.Fatalf("output:\n%s", out)
	}
	shape := `^\{"brokers":\[\{"broker":1,"logDirs":\[\{"partitions":\[` +
		`\{"partition":"orders-0","size":0,"offsetLag":0,"isFuture":false\},` +
		`\{"partition":"orders-1","size":[1-9]\d*,"offsetLag":0,"isFuture":false\}\],` +
		`"error":null,"logDir":"` + regexp.QuoteMeta(dir) + `"\}\]\}\],"version":1\}$`
	if !regexp.MustCompile(shape).MatchString(lines[2]) {
		t.Errorf("JSON line\n%s\ndoes not match Kafka's shape\n%s", lines[2], shape)
	}
	var doc logDirsJSON
	if err := json.Unmarshal([]byte(lines[2]), &doc); err != nil {
		t.Fatal(err)
	}
	// The size of orders-1 is the bytes of its batches; the file is
	// preallocated past them while the broker runs.
	if size := doc.Brokers[0].LogDirs[0].Partitions[1].Size; size > fileSize(t, filepath.Join(dir, "orders-1", "00000000000000000000.log")) {
		t.Errorf("orders-1 size %d is larger than its .log", size)
	}

	// Kafka's flag form prints the same; without --topic-list every topic is there.
	if again := mustRun(t, "", append([]string{"log-dirs", "--describe", "--topic-list", "orders"}, bs...)...); again != out {
		t.Errorf("log-dirs --describe printed\n%s\nbut log-dirs describe\n%s", again, out)
	}
	all := mustRun(t, "", append([]string{"log-dirs", "describe", "--broker-list", "1"}, bs...)...)
	for _, want := range []string{`"partition":"audit-0"`, `"partition":"orders-0"`, `"partition":"orders-1"`} {
		if !strings.Contains(all, want) {
			t.Errorf("without --topic-list, %s is missing:\n%s", want, all)
		}
	}
	mustFail(t, "", "the given brokers do not exist from --broker-list: 7. Current existent brokers: 1",
		append([]string{"log-dirs", "describe", "--broker-list", "1,7"}, bs...)...)
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

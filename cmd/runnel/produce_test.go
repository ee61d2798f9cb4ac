package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker/brokertest"
)

func TestLineParser(t *testing.T) {
	h := func(kv ...string) []kgo.RecordHeader {
		var hs []kgo.RecordHeader
		for i := 0; i < len(kv); i += 2 {
			hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return hs
	}
	for _, tc := range []struct {
		name    string
		props   map[string]string
		line    string
		want    *kgo.Record
		wantErr string
	}{
		{"value only", nil, "a\tb:c", &kgo.Record{Value: []byte("a\tb:c")}, ""},
		{"empty line is an empty value", nil, "", &kgo.Record{Value: []byte{}}, ""},
		{"key at tab", map[string]string{"parse.key": "true"}, "k\tv\tw", &kgo.Record{Key: []byte("k"), Value: []byte("v\tw")}, ""},
		{"key at colon", map[string]string{"parse.key": "TRUE", "key.separator": ":"}, "k:v", &kgo.Record{Key: []byte("k"), Value: []byte("v")}, ""},
		{"empty key", map[string]string{"parse.key": "true", "key.separator": ":"}, ":v", &kgo.Record{Key: []byte{}, Value: []byte("v")}, ""},
		{"no key separator", map[string]string{"parse.key": "true", "key.separator": ":"}, "v", nil, `no key separator found on line number 7: "v"`},
		{"no key separator ignored", map[string]string{"parse.key": "true", "ignore.error": "true"}, "v", &kgo.Record{Value: []byte("v")}, ""},
		{"null marker", map[string]string{"parse.key": "true", "key.separator": ":", "null.marker": "NULL"}, "NULL:NULL", &kgo.Record{}, ""},
		{"headers key value", map[string]string{"parse.headers": "true", "parse.key": "true"}, "h1:a,h2:b\tk\tv",
			&kgo.Record{Key: []byte("k"), Value: []byte("v"), Headers: h("h1", "a", "h2", "b")}, ""},
		{"headers custom separators", map[string]string{"parse.headers": "true", "headers.delimiter": "|", "headers.separator": ";", "headers.key.separator": "="}, "h1=a;h2=|v",
			&kgo.Record{Value: []byte("v"), Headers: h("h1", "a", "h2", "")}, ""},
		{"no headers delimiter", map[string]string{"parse.headers": "true"}, "v", nil, "no headers delimiter found on line number 7"},
		{"no header key separator", map[string]string{"parse.headers": "true"}, "h1\tv", nil, `no header key separator found in pair "h1"`},
		{"null header value", map[string]string{"parse.headers": "true", "null.marker": "-"}, "h1:-\tv",
			&kgo.Record{Value: []byte("v"), Headers: []kgo.RecordHeader{{Key: "h1"}}}, ""},
		{"null header key", map[string]string{"parse.headers": "true", "null.marker": "-"}, "-:x\tv", nil, "header keys must not equal the null marker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := newLineParser(tc.props)
			if err != nil {
				t.Fatal(err)
			}
			r, err := p.parse(tc.line, 7)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r, tc.want) {
				t.Errorf("got %+v, want %+v", r, tc.want)
			}
		})
	}
	for _, props := range []map[string]string{{"parse.kye": "true"}, {"key.separator": ""}, {"null.marker": "\t"}} {
		if _, err := newLineParser(props); err == nil {
			t.Errorf("newLineParser(%v) accepted it", props)
		}
	}
}

func TestProduce(t *testing.T) {
	b := brokertest.Start(t, "num.partitions=1")
	bs := []string{"--bootstrap-server", b.Addr}
	run := func(stdin string, args ...string) string {
		t.Helper()
		return mustRun(t, stdin, append(args, bs...)...)
	}
	// consumeAll reads n records; the timeout only stops a test that would
	// otherwise wait forever (and then the count is wrong).
	consumeAll := func(topic string, n int, props ...string) string {
		t.Helper()
		args := []string{"consume", "--topic", topic, "--from-beginning", "--max-messages", strconv.Itoa(n), "--timeout-ms", "5000"}
		for _, p := range props {
			args = append(args, "--property", p)
		}
		return run("", args...)
	}

	// Plain lines (CRLF too), auto-created topic, every acks and codec.
	for i, opts := range [][]string{
		{"--acks", "all"}, {"--request-required-acks", "1", "--compression", "gzip"}, {"--acks", "0", "--compression-codec", "lz4"},
		{"--compression-codec", "snappy"}, {"--compression-codec", "zstd"},
	} {
		if out := run("one\r\ntwo\n\nthree", append([]string{"produce", "--topic", "lines"}, opts...)...); out != "" {
			t.Errorf("produce %v printed %q", opts, out)
		}
		want := strings.Repeat("one\ntwo\n\nthree\n", i+1)
		if got := consumeAll("lines", 4*(i+1)); got != want {
			t.Errorf("after produce %v the topic holds %q, want %q", opts, got, want)
		}
	}

	// Keys and headers, as Kafka's line reader parses them.
	run("trace:1,team:a\tk1:v1\nteam:b\tk2:v2\n", "produce", "--topic", "keyed",
		"--property", "parse.headers=true", "--property", "parse.key=true", "--property", "key.separator=:")
	got := consumeAll("keyed", 2, "print.headers=true", "print.key=true")
	if want := "trace:1,team:a\tk1\tv1\nteam:b\tk2\tv2\n"; got != want {
		t.Errorf("keyed: %q, want %q", got, want)
	}

	// A line without the separator stops the producer with an error naming
	// the line; the lines before it are sent.
	r := mustFail(t, "k:v\nnokey\nk:w\n", `no key separator found on line number 2: "nokey"`,
		append([]string{"produce", "--topic", "strict", "--property", "parse.key=true", "--property", "key.separator=:"}, bs...)...)
	if r.stdout != "" {
		t.Errorf("stdout %q", r.stdout)
	}
	if got := run("", "consume", "--topic", "strict", "--from-beginning", "--timeout-ms", "500"); got != "v\n" {
		t.Errorf("strict: %q, want the line before the bad one", got)
	}

	// --file, --partition.
	path := filepath.Join(t.TempDir(), "values.txt")
	if err := os.WriteFile(path, []byte("x\ny\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("", "topics", "create", "--topic", "three", "--partitions", "3")
	run("", "produce", "--topic", "three", "--file", path, "--partition", "2")
	if got := run("", "consume", "--topic", "three", "--partition", "2", "--offset", "earliest", "--max-messages", "2"); got != "x\ny\n" {
		t.Errorf("partition 2: %q", got)
	}
	mustFail(t, "x\n", `--partition 3: topic "three" has 3 partitions`, append([]string{"produce", "--topic", "three", "--partition", "3"}, bs...)...)
	mustFail(t, "", "no such file", append([]string{"produce", "--topic", "three", "--file", path + ".missing"}, bs...)...)
}

// TestProduceNoAutoCreate: with auto-creation off, producing to an unknown
// topic fails within the bounded time with Kafka's error.
func TestProduceNoAutoCreate(t *testing.T) {
	b := brokertest.Start(t, "auto.create.topics.enable=false")
	r := mustFail(t, "x\n", "UNKNOWN_TOPIC_OR_PARTITION", "produce", "--topic", "missing", "--bootstrap-server", b.Addr)
	if !strings.Contains(r.stderr, "1 of 1 records were not delivered") {
		t.Errorf("stderr %q does not say what was lost", r.stderr)
	}
}

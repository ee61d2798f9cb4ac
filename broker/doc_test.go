package broker

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/netpoll"
)

// TestAPIFilesStateTheirVersions keeps the files' opening comments true:
// the file of every API in the table opens with "<API>, versions <min>-<max>"
// (or "through", or "version <n>" for one), and those are the versions the
// table registers, so that a version added to the table cannot leave its
// file's comment behind.
func TestAPIFilesStateTheirVersions(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	opening := regexp.MustCompile(`(?m)\A(?:package broker\n\n)?// (\w+), versions? (\d+)(?:(?:-| through )(\d+))?\b`)
	stated := map[string][2]int16{} // lower-case API name: the versions a file states
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := opening.FindStringSubmatch(string(data))
		if m == nil {
			continue
		}
		lo, _ := strconv.Atoi(m[2])
		hi := lo
		if m[3] != "" {
			hi, _ = strconv.Atoi(m[3])
		}
		stated[strings.ToLower(m[1])] = [2]int16{int16(lo), int16(hi)}
	}
	for _, key := range apiKeysSorted() {
		h, name := apis[key], kmsg.NameForKey(key)
		got, ok := stated[strings.ToLower(name)]
		switch {
		case !ok:
			t.Errorf("%s: no file opens with %q", name, name+", versions ...")
		case got != [2]int16{h.minVersion, h.maxVersion}:
			t.Errorf("%s: its file states versions %d-%d, the table serves %d-%d", name, got[0], got[1], h.minVersion, h.maxVersion)
		}
	}
}

// TestREADMERunnelProperties keeps the README's table of Runnel's own
// settings true: it lists every runnel.* key the broker reads and no
// other, and a default written as one code span is the broker's.
func TestREADMERunnelProperties(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `(runnel\\.[a-z0-9.]+)` \\| ([^|]*) \\|").FindAllStringSubmatch(string(data), -1)
	if len(rows) == 0 {
		t.Fatal("README.md has no table of runnel.* properties")
	}
	listed := map[string]string{}
	for _, m := range rows {
		listed[m[1]] = strings.TrimSpace(m[2])
	}
	def := DefaultConfig()
	defaults := map[string]string{}
	for _, kv := range def.describe() {
		defaults[kv[0]] = kv[1]
	}
	for _, k := range brokerKeys {
		if !strings.HasPrefix(k.name, "runnel.") {
			continue
		}
		cell, ok := listed[k.name]
		if !ok {
			t.Errorf("%s: the broker reads it, but README.md's table does not list it", k.name)
			continue
		}
		delete(listed, k.name)
		v, described := defaults[k.name]
		single := len(cell) >= 2 && cell[0] == '`' && strings.Count(cell, "`") == 2 && cell[len(cell)-1] == '`'
		switch {
		case k.name == "runnel.net":
			// The platform's default (tests may change defaultNet).
			want := "`" + NetStd + "` elsewhere"
			if netpoll.Supported {
				want = "`" + NetEpoll + "` (Linux)"
			}
			if !strings.Contains(cell, want) {
				t.Errorf("%s: README.md's default %s does not say %s", k.name, cell, want)
			}
		case single && (!described || cell != "`"+v+"`"):
			t.Errorf("%s: README.md's default is %s, the broker's is %q", k.name, cell, v)
		case !single && described:
			t.Errorf("%s: README.md's default is %s, the broker's is %q", k.name, cell, v)
		}
	}
	for name := range listed {
		t.Errorf("README.md lists %s, which the broker does not read", name)
	}
}

// TestREADMEListsTheAPIs keeps the README's "What it serves" true: every
// API in the table is named there.
func TestREADMEListsTheAPIs(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n### What it serves\n")
	if !ok {
		t.Fatal(`README.md has no "### What it serves" section`)
	}
	section, _, _ = strings.Cut(section, "\n#")
	named := map[string]bool{}
	for _, w := range regexp.MustCompile(`[A-Za-z]+`).FindAllString(section, -1) {
		named[strings.ToLower(w)] = true
	}
	for _, key := range apiKeysSorted() {
		if name := kmsg.NameForKey(key); !named[strings.ToLower(name)] {
			t.Errorf("README.md's \"What it serves\" does not name %s", name)
		}
	}
}

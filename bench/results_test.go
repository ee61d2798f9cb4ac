package bench

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestResultsREADMEs keeps the published results readable on their own:
// every folder under results/ has a README.md that gives the commit
// measured, the machine's load, the transport (or that none was used) and
// a status, and a run marked superseded names the folder that replaced it.
func TestResultsREADMEs(t *testing.T) {
	dirs, err := filepath.Glob("../results/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no results folders")
	}
	sibling := regexp.MustCompile(`\.\./\d{4}-\d\d-\d\d-[^/]+/`)
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, "README.md"))
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		text := strings.ToLower(string(data))
		for _, word := range []string{"commit", "load", "transport", "status"} {
			if !strings.Contains(text, word) {
				t.Errorf("%s/README.md does not say its %s", dir, word)
			}
		}
		if strings.Contains(text, "superseded") {
			for _, m := range sibling.FindAllString(string(data), -1) {
				if _, err := os.Stat(filepath.Join(dir, m)); err != nil {
					t.Errorf("%s/README.md names %s, which does not exist", dir, m)
				}
			}
			if !sibling.MatchString(string(data)) {
				t.Errorf("%s/README.md says it is superseded but names no ../<folder>/ that replaced it", dir)
			}
		}
	}
}

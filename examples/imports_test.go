package examples_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestExamplesUseOnlyClientAPIs keeps the examples what a Kafka user could
// write: the programs link no package of Runnel's outside examples/ (not
// the broker, not its storage), only franz-go's clients and the standard
// library.
func TestExamplesUseOnlyClientAPIs(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "runnel/examples/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "runnel/") && pkg != "runnel/examples" && !strings.HasPrefix(pkg, "runnel/examples/") {
			t.Errorf("an example links %s, a package of Runnel's own", pkg)
		}
	}
}

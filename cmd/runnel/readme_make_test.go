package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEMakeTargets keeps the README in step with the Makefile: every
// target the Makefile declares is named in the README (as `target`), and
// every `make X` the README shows is a target.
func TestREADMEMakeTargets(t *testing.T) {
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	phony := regexp.MustCompile(`(?m)^\.PHONY:(.*)$`).FindSubmatch(makefile)
	if phony == nil {
		t.Fatal("Makefile has no .PHONY line")
	}
	targets := map[string]bool{}
	for _, target := range strings.Fields(string(phony[1])) {
		targets[target] = true
		if !strings.Contains(string(readme), "`"+target+"`") && !strings.Contains(string(readme), "make "+target) {
			t.Errorf("README.md does not mention the Makefile's target %s", target)
		}
	}
	for _, m := range regexp.MustCompile("(?m)(?:`|^)make ([a-z][a-z-]*)").FindAllStringSubmatch(string(readme), -1) {
		if !targets[m[1]] {
			t.Errorf("README.md shows `make %s`, which the Makefile does not declare", m[1])
		}
	}
}

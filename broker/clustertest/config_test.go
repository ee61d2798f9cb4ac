package clustertest_test

import (
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"runnel/broker"
)

// TestClusterPropertiesFiles keeps config/cluster/ true: every file loads
// as `runnel serve` loads it, without a warning; node-1 to node-3 are
// combined nodes 1 to 3 and the voters, broker-4 a broker-only node 4;
// every file names the same voters, each at its node's controller
// listener; no two listeners of the machine share a port, nor two nodes a
// data directory.
func TestClusterPropertiesFiles(t *testing.T) {
	files := []struct {
		name       string
		id         int32
		controller bool
	}{
		{"node-1.properties", 1, true},
		{"node-2.properties", 2, true},
		{"node-3.properties", 3, true},
		{"broker-4.properties", 4, false},
	}
	matches, err := filepath.Glob("../../config/cluster/*.properties")
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) != len(files) {
		t.Errorf("config/cluster/ holds %d properties files, want the %d this test checks: %v", len(matches), len(files), matches)
	}
	ports := map[string]string{}    // port: who listens on it
	dataDirs := map[string]string{} // log dir: whose
	var voters map[int32]string
	controllerAddrs := map[int32]string{}
	for _, f := range files {
		cfg, warnings, err := broker.LoadConfig(filepath.Join("../../config/cluster", f.name), nil)
		if err != nil {
			t.Errorf("%s: %v", f.name, err)
			continue
		}
		for _, w := range warnings {
			t.Errorf("%s: warning: %s", f.name, w)
		}
		wantRoles := []string{"broker"}
		if f.controller {
			wantRoles = []string{"broker", "controller"}
		}
		if roles := slices.Sorted(slices.Values(cfg.ProcessRoles)); !slices.Equal(roles, wantRoles) || cfg.NodeID != f.id {
			t.Errorf("%s: process.roles %v, node.id %d; want %v, %d", f.name, roles, cfg.NodeID, wantRoles, f.id)
		}
		if voters == nil {
			voters = cfg.QuorumVoters
		} else if !maps.Equal(voters, cfg.QuorumVoters) {
			t.Errorf("%s: controller.quorum.voters %v, not the %v of %s", f.name, cfg.QuorumVoters, voters, files[0].name)
		}
		claim := func(port, who string) {
			if other, ok := ports[port]; ok {
				t.Errorf("port %s: %s and %s", port, other, who)
			}
			ports[port] = who
		}
		for _, l := range cfg.Listeners {
			claim(strconv.Itoa(int(l.Port)), f.name+" "+l.Name)
			if l.Name == "CONTROLLER" {
				controllerAddrs[f.id] = l.Host + ":" + strconv.Itoa(int(l.Port))
			}
		}
		if _, port, err := net.SplitHostPort(cfg.AdminListener); err != nil {
			t.Errorf("%s: runnel.admin.listener %q: %v", f.name, cfg.AdminListener, err)
		} else {
			claim(port, f.name+" runnel.admin.listener")
		}
		for _, d := range cfg.LogDirs {
			if other, ok := dataDirs[d]; ok {
				t.Errorf("log dir %s: %s and %s", d, other, f.name)
			}
			dataDirs[d] = f.name
		}
	}
	if !maps.Equal(voters, controllerAddrs) {
		t.Errorf("controller.quorum.voters is %v, but the nodes' CONTROLLER listeners are %v", voters, controllerAddrs)
	}
}

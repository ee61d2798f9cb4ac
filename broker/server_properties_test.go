package broker

import (
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"runnel/netpoll"
)

// serverProperties is the shipped, commented configuration file.
const serverProperties = "../config/server.properties"

// TestServerPropertiesDefaults keeps config/server.properties true: the file
// parses with no warning; every key the broker reads is documented in it as
// a commented "#key=value" line and nothing else is; and each such value,
// given to the broker, changes nothing, so it is the broker's default.
func TestServerPropertiesDefaults(t *testing.T) {
	if _, warnings, err := LoadConfig(serverProperties, nil); err != nil || len(warnings) > 0 {
		t.Fatalf("LoadConfig(%s): %v %v", serverProperties, warnings, err)
	}
	data, err := os.ReadFile(serverProperties)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^#([a-z][a-z0-9.]*)=(.*)$`).FindAllStringSubmatch(string(data), -1) {
		if _, dup := documented[m[1]]; dup {
			t.Errorf("%s is documented twice", m[1])
		}
		documented[m[1]] = m[2]
	}
	known := map[string]bool{}
	for _, k := range brokerKeys {
		known[k.name] = true
		if _, ok := documented[k.name]; !ok {
			t.Errorf("%s: the broker reads it, but %s does not document it (add a commented #%s=<default> line with its meaning)", k.name, serverProperties, k.name)
		}
	}
	def := DefaultConfig()
	// runnel.net's default is the platform's (tests may change defaultNet).
	def.Net = NetStd
	if netpoll.Supported {
		def.Net = NetEpoll
	}
	for key, value := range documented {
		if !known[key] {
			t.Errorf("%s documents %s, which the broker does not read", serverProperties, key)
			continue
		}
		c, _, err := NewConfig(map[string]string{key: value})
		if err != nil {
			t.Errorf("#%s=%s: %v", key, value, err)
			continue
		}
		if key != "runnel.net" {
			c.Net = def.Net
		}
		got, want := c.describe(), def.describe()
		if len(got) != len(want) {
			t.Errorf("#%s=%s is not the default: described as %v, want %v", key, value, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("#%s=%s is not the default: it makes %s %s, the default is %s", key, value, got[i][0], got[i][1], want[i][1])
			}
		}
		c.TopicDefaults = def.TopicDefaults // topic defaults equal to Kafka's, compared above
		if !reflect.DeepEqual(c, def) {
			t.Errorf("#%s=%s is not the default: %+v, want %+v", key, value, c, def)
		}
	}
}

// TestSystemdUnit checks the settings of config/runnel.service that must
// agree with the broker: it starts with the shipped properties file, gives
// a clean stop longer than the broker's shutdown timeout, and raises the
// open files limit as far as the startup check suggests.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile("../config/runnel.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			unit[k] = v
		}
	}
	if !strings.HasSuffix(unit["ExecStart"], " serve --config /etc/runnel/server.properties") {
		t.Errorf("ExecStart=%s", unit["ExecStart"])
	}
	if stop, err := strconv.Atoi(unit["TimeoutStopSec"]); err != nil || time.Duration(stop)*time.Second <= 2*DefaultConfig().ShutdownTimeout {
		t.Errorf("TimeoutStopSec=%s: want seconds, well above runnel.shutdown.timeout.ms (%v) to leave time to close the logs", unit["TimeoutStopSec"], DefaultConfig().ShutdownTimeout)
	}
	if n, err := strconv.ParseUint(unit["LimitNOFILE"], 10, 64); err != nil || n < suggestedNoFile {
		t.Errorf("LimitNOFILE=%s: want at least %d, what the startup check suggests", unit["LimitNOFILE"], suggestedNoFile)
	}
	for _, k := range []string{"User", "Restart", "WorkingDirectory"} {
		if unit[k] == "" {
			t.Errorf("%s= not set", k)
		}
	}
}

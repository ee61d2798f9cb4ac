package broker

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// combined is a valid combined broker and controller, the base the cases below change.
func combined(changes map[string]string) map[string]string {
	props := map[string]string{
		"process.roles":             "broker,controller",
		"node.id":                   "1",
		"controller.quorum.voters":  "1@localhost:9093,2@localhost:9193,3@localhost:9293",
		"controller.listener.names": "CONTROLLER",
		"listeners":                 "PLAINTEXT://:9092,CONTROLLER://:9093",
	}
	for k, v := range changes {
		if v == "" {
			delete(props, k)
		} else {
			props[k] = v
		}
	}
	return props
}

// TestClusterSettings: the settings are parsed with Kafka's meanings, and several listeners
// serve clients on the first that is not a controller listener.
func TestClusterSettings(t *testing.T) {
	c, warnings, err := NewConfig(combined(map[string]string{
		"broker.rack": "rack-a", "broker.session.timeout.ms": "12000", "broker.heartbeat.interval.ms": "3000",
		"controller.quorum.election.timeout.ms": "1500", "metadata.log.dir": "/meta",
		"listeners": "CONTROLLER://127.0.0.1:9093,PLAINTEXT://127.0.0.1:9092",
	}))
	if err != nil || len(warnings) > 0 {
		t.Fatal(err, warnings)
	}
	if !reflect.DeepEqual(c.ProcessRoles, []string{"broker", "controller"}) || c.NodeID != 1 ||
		!reflect.DeepEqual(c.QuorumVoters, map[int32]string{1: "localhost:9093", 2: "localhost:9193", 3: "localhost:9293"}) ||
		!reflect.DeepEqual(c.ControllerListenerNames, []string{"CONTROLLER"}) || c.InterBrokerListenerName != "PLAINTEXT" ||
		c.BrokerRack != "rack-a" || c.BrokerSessionTimeout != 12*time.Second || c.BrokerHeartbeatInterval != 3*time.Second ||
		c.QuorumElectionTimeout != 1500*time.Millisecond || c.MetadataLogDir != "/meta" {
		t.Errorf("got %+v", c)
	}
	want := []Listener{{"CONTROLLER", "127.0.0.1", 9093}, {"PLAINTEXT", "127.0.0.1", 9092}}
	if !reflect.DeepEqual(c.Listeners, want) || c.ListenAddr != "127.0.0.1:9092" || c.AdvertisedHost != "127.0.0.1" || c.AdvertisedPort != 9092 {
		t.Errorf("listeners %+v, served %s, advertised %s:%d", c.Listeners, c.ListenAddr, c.AdvertisedHost, c.AdvertisedPort)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	described := map[string]string{}
	for _, kv := range c.describe() {
		described[kv[0]] = kv[1]
	}
	if described["controller.quorum.voters"] != "1@localhost:9093,2@localhost:9193,3@localhost:9293" ||
		described["listeners"] != "CONTROLLER://127.0.0.1:9093,PLAINTEXT://127.0.0.1:9092" || described["process.roles"] != "broker,controller" {
		t.Errorf("described %v", described)
	}

	// The default is today's single node: no roles, one listener, nothing else changes.
	d, _, err := NewConfig(nil)
	if err != nil || d.ProcessRoles != nil || len(d.Listeners) != 1 || d.ListenAddr != "localhost:9092" ||
		d.BrokerSessionTimeout != 9*time.Second || d.BrokerHeartbeatInterval != 2*time.Second || d.QuorumElectionTimeout != time.Second {
		t.Errorf("defaults %+v %v", d, err)
	}

	// Other shapes that Kafka accepts.
	for name, props := range map[string]map[string]string{
		"controller only": {"process.roles": "controller", "node.id": "2", "controller.quorum.voters": "2@localhost:9093",
			"controller.listener.names": "CONTROLLER", "listeners": "CONTROLLER://:9093"},
		"broker only with voters": combined(map[string]string{"process.roles": "broker", "node.id": "4", "listeners": "PLAINTEXT://:9092"}),
		"broker only with bootstrap servers": {"process.roles": "broker", "broker.id": "4", "controller.quorum.bootstrap.servers": "localhost:9093, localhost:9193",
			"controller.listener.names": "CONTROLLER", "listeners": "PLAINTEXT://:9092"},
		"a second broker listener": combined(map[string]string{"listeners": "PLAINTEXT://:9092,REPLICATION://:9094,CONTROLLER://:9093",
			"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,REPLICATION:PLAINTEXT,CONTROLLER:PLAINTEXT", "inter.broker.listener.name": "REPLICATION"}),
		"node id 0": combined(map[string]string{"node.id": "0", "controller.quorum.voters": "0@localhost:9093"}),
	} {
		if _, _, err := NewConfig(props); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	// A heartbeat interval over half the session timeout is allowed, with a warning (Kafka logs an error).
	_, warnings, err = NewConfig(map[string]string{"broker.heartbeat.interval.ms": "5000"})
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "broker.session.timeout.ms") {
		t.Errorf("heartbeat over half the session: %v %q", err, warnings)
	}
}

// TestClusterSettingsRejected: each of Kafka's rules refuses a config, with a message naming
// what is wrong.
func TestClusterSettingsRejected(t *testing.T) {
	for _, tt := range []struct {
		name  string
		props map[string]string
		want  string // in the message
	}{
		{"unknown role", combined(map[string]string{"process.roles": "broker,zookeeper"}), "zookeeper"},
		{"duplicate role", combined(map[string]string{"process.roles": "broker,broker"}), "duplicate role"},
		{"roles without node.id", combined(map[string]string{"node.id": ""}), "missing node.id"},
		{"no voters nor bootstrap servers", combined(map[string]string{"controller.quorum.voters": ""}), "controller.quorum.voters must contain a parseable set"},
		{"voters and bootstrap servers", combined(map[string]string{"controller.quorum.bootstrap.servers": "localhost:9093"}), "both set"},
		{"voter without id", combined(map[string]string{"controller.quorum.voters": "localhost:9093"}), "{id}@{host}:{port}"},
		{"voter with a negative id", combined(map[string]string{"controller.quorum.voters": "-1@localhost:9093"}), "{id}@{host}:{port}"},
		{"voter without port", combined(map[string]string{"controller.quorum.voters": "1@localhost"}), "host:port"},
		{"voter without host", combined(map[string]string{"controller.quorum.voters": "1@:9093"}), "host:port"},
		{"voter port 0", combined(map[string]string{"controller.quorum.voters": "1@localhost:0"}), "bad port"},
		{"duplicate voter id", combined(map[string]string{"controller.quorum.voters": "1@localhost:9093,1@otherhost:9093"}), "appears twice"},
		{"bad bootstrap server", map[string]string{"controller.quorum.bootstrap.servers": "localhost"}, "host:port"},
		{"controller not a voter", combined(map[string]string{"node.id": "5"}), "node id 5 must be included in the set of voters"},
		{"controller with bootstrap servers only", combined(map[string]string{"controller.quorum.voters": "", "controller.quorum.bootstrap.servers": "localhost:9093"}), "dynamic quorum"},
		{"broker only but a voter", combined(map[string]string{"process.roles": "broker", "listeners": "PLAINTEXT://:9092"}), "node id 1 must not be included"},
		{"broker only without controller.listener.names", combined(map[string]string{"process.roles": "broker", "node.id": "4",
			"listeners": "PLAINTEXT://:9092", "controller.listener.names": ""}), "controller.listener.names must contain at least one value"},
		{"broker only with a controller listener", combined(map[string]string{"process.roles": "broker", "node.id": "4"}), "must not contain a value appearing in the 'listeners'"},
		{"controller without a controller listener", combined(map[string]string{"controller.listener.names": "OTHER", "listeners": "PLAINTEXT://:9092"}), "must contain at least one value appearing"},
		{"controller listener not in listeners", combined(map[string]string{"controller.listener.names": "CONTROLLER,OTHER"}), "OTHER is not in"},
		{"controller only with a broker listener", combined(map[string]string{"process.roles": "controller"}), "must only contain KRaft controller listeners"},
		{"controller only, inter-broker listener a controller's", map[string]string{"process.roles": "controller", "node.id": "1", "controller.quorum.voters": "1@localhost:9093",
			"controller.listener.names": "CONTROLLER", "listeners": "CONTROLLER://:9093", "inter.broker.listener.name": "CONTROLLER"}, "must not contain inter.broker.listener.name"},
		{"combined, every listener a controller's", combined(map[string]string{"listeners": "CONTROLLER://:9093"}), "at least one broker listener"},
		{"inter-broker listener not a listener", combined(map[string]string{"inter.broker.listener.name": "REPLICATION"}), "REPLICATION is not"},
		{"inter-broker listener a controller's", combined(map[string]string{"inter.broker.listener.name": "CONTROLLER"}), "CONTROLLER is not"},
		{"SSL listener", combined(map[string]string{"listeners": "SSL://:9092,CONTROLLER://:9093", "inter.broker.listener.name": "SSL"}), "uses SSL: only PLAINTEXT is supported"},
		{"listener mapped to SASL_SSL", combined(map[string]string{"listener.security.protocol.map": "PLAINTEXT:SASL_SSL,CONTROLLER:PLAINTEXT"}), "uses SASL_SSL"},
		{"listener not in an explicit map", combined(map[string]string{"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT"}), "no security protocol defined for listener CONTROLLER"},
		{"unknown protocol", map[string]string{"listener.security.protocol.map": "PLAINTEXT:TLS"}, "unknown security protocol TLS"},
		{"bad map entry", map[string]string{"listener.security.protocol.map": "PLAINTEXT"}, "NAME:PROTOCOL"},
		{"listener mapped twice", map[string]string{"listener.security.protocol.map": "A:PLAINTEXT,A:SSL"}, "mapped twice"},
		{"bad controller listener name", map[string]string{"controller.listener.names": "CONTROL LER"}, "bad listener name"},
		{"bad inter-broker listener name", map[string]string{"inter.broker.listener.name": "a/b"}, "bad listener name"},
		{"duplicate listener name", combined(map[string]string{"listeners": "PLAINTEXT://:9092,PLAINTEXT://:9093"}), "different name"},
		{"duplicate listener port", combined(map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9092"}), "different port"},
		{"several listeners without roles", map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9093"}, "runnel serves one listener"},
		{"session timeout 0", map[string]string{"broker.session.timeout.ms": "0"}, "broker.session.timeout.ms"},
		{"heartbeat interval x", map[string]string{"broker.heartbeat.interval.ms": "x"}, "broker.heartbeat.interval.ms"},
		{"election timeout -1", map[string]string{"controller.quorum.election.timeout.ms": "-1"}, "controller.quorum.election.timeout.ms"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := NewConfig(tt.props)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("message %q does not say %q", err, tt.want)
			}
		})
	}
}

// TestClusterSettingsValidate: Validate applies the same rules to a Config built in code.
func TestClusterSettingsValidate(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.ProcessRoles = []string{"broker", "controller"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "controller.quorum.voters") {
		t.Errorf("roles without voters: %v", err)
	}
}

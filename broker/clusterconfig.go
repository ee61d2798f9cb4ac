package broker

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The cluster's settings (KRaft, KIP-500/595/631) are read and validated here as Kafka's
// KafkaConfig validates them. With process.roles empty (the default) the broker is a combined
// node that is the only voter of its own quorum; with it set, the voters of
// controller.quorum.voters run the quorum over their controller listeners (cluster_quorum.go).

// securityProtocols are Kafka's; only PLAINTEXT is served.
var securityProtocols = []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}

// listenerName is what Kafka accepts as a listener name.
var listenerName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// kafkaSecurityProtocolMap is listener.security.protocol.map's default: each protocol's name
// as a listener name of that protocol.
func kafkaSecurityProtocolMap() map[string]string {
	m := map[string]string{}
	for _, p := range securityProtocols {
		m[p] = p
	}
	return m
}

// splitList splits a comma-separated list, dropping blanks; nil when empty.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// checkHostPort checks host:port with a host and a port number.
func checkHostPort(hp string) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil || host == "" {
		return fmt.Errorf("want host:port, not %q", hp)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("bad port in %q", hp)
	}
	return nil
}

// parseListeners parses listeners: "NAME://host:port,..." (a bare host:port is PLAINTEXT);
// an empty host means every interface. Names and ports are unique.
func parseListeners(v string) ([]Listener, error) {
	var ls []Listener
	for _, entry := range strings.Split(strings.TrimSpace(v), ",") {
		entry = strings.TrimSpace(entry)
		name, rest, ok := strings.Cut(entry, "://")
		if !ok {
			name, rest = "PLAINTEXT", entry
		}
		if !listenerName.MatchString(name) {
			return nil, fmt.Errorf("bad listener name %q", name)
		}
		host, p, err := net.SplitHostPort(rest)
		if err != nil {
			return nil, fmt.Errorf("want PLAINTEXT://host:port")
		}
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("bad port %q", p)
		}
		for _, l := range ls {
			if l.Name == name {
				return nil, fmt.Errorf("each listener must have a different name: %s appears twice", name)
			}
			if n != 0 && l.Port == int32(n) {
				return nil, fmt.Errorf("each listener must have a different port: %d appears twice", n)
			}
		}
		ls = append(ls, Listener{Name: name, Host: host, Port: int32(n)})
	}
	return ls, nil
}

func formatListeners(ls []Listener) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.Name + "://" + net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
	}
	return strings.Join(parts, ",")
}

// parseVoters parses controller.quorum.voters, "id@host:port,...": ids are node ids (0 and
// up) and unique. Empty: nil.
func parseVoters(v string) (map[int32]string, error) {
	var voters map[int32]string
	for _, entry := range splitList(v) {
		idText, addr, ok := strings.Cut(entry, "@")
		id, err := strconv.ParseInt(idText, 10, 32)
		if !ok || err != nil || id < 0 {
			return nil, fmt.Errorf("voter %q: want {id}@{host}:{port} with a node id", entry)
		}
		if err := checkHostPort(addr); err != nil {
			return nil, fmt.Errorf("voter %q: %w", entry, err)
		}
		if voters == nil {
			voters = map[int32]string{}
		}
		if _, dup := voters[int32(id)]; dup {
			return nil, fmt.Errorf("voter id %d appears twice", id)
		}
		voters[int32(id)] = addr
	}
	return voters, nil
}

func formatVoters(voters map[int32]string) string {
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(voters)) {
		parts = append(parts, fmt.Sprintf("%d@%s", id, voters[id]))
	}
	return strings.Join(parts, ",")
}

func formatProtocolMap(m map[string]string) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, name+":"+m[name])
	}
	return strings.Join(parts, ",")
}

// hasRole reports whether process.roles holds role.
func (c *Config) hasRole(role string) bool { return slices.Contains(c.ProcessRoles, role) }

// isControllerListener reports whether name is one of controller.listener.names.
func (c *Config) isControllerListener(name string) bool {
	return slices.Contains(c.ControllerListenerNames, name)
}

// clusterListeners makes the first listener that is not a controller listener the one served
// to clients (and advertised, advertised.listeners being unset).
func (c *Config) clusterListeners() {
	for _, l := range c.Listeners {
		if !c.isControllerListener(l.Name) {
			c.ListenAddr = net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
			c.AdvertisedHost, c.AdvertisedPort = l.Host, l.Port
			return
		}
	}
}

// validateCluster checks the cluster settings together, with KafkaConfig's rules and
// messages where Kafka has them.
func (c *Config) validateCluster() error {
	listeners := "listeners=" + formatListeners(c.Listeners)
	if len(c.ProcessRoles) == 0 && len(c.Listeners) > 1 {
		return fmt.Errorf("config: bad value %q for listeners: runnel serves one listener unless process.roles is set", formatListeners(c.Listeners))
	}
	for _, l := range c.Listeners {
		proto, ok := c.ListenerSecurityProtocols[l.Name]
		if !ok && c.isControllerListener(l.Name) && maps.Equal(c.ListenerSecurityProtocols, kafkaSecurityProtocolMap()) {
			proto, ok = "PLAINTEXT", true // KRaft: a controller listener is PLAINTEXT unless the map says
		}
		if !ok {
			return fmt.Errorf("config: no security protocol defined for listener %s (%s) in listener.security.protocol.map", l.Name, listeners)
		}
		if proto != "PLAINTEXT" {
			return fmt.Errorf("config: listener %s (%s) uses %s: only PLAINTEXT is supported", l.Name, listeners, proto)
		}
	}
	if len(c.ProcessRoles) == 0 {
		return nil
	}
	broker, controller := c.hasRole("broker"), c.hasRole("controller")
	if len(c.QuorumVoters) == 0 && len(c.QuorumBootstrapServers) == 0 {
		return fmt.Errorf("config: if using process.roles, either controller.quorum.bootstrap.servers must contain the set of bootstrap controllers or controller.quorum.voters must contain a parseable set of controllers")
	}
	if len(c.QuorumVoters) > 0 && len(c.QuorumBootstrapServers) > 0 {
		return fmt.Errorf("config: controller.quorum.voters and controller.quorum.bootstrap.servers are both set: set one")
	}
	_, voter := c.QuorumVoters[c.NodeID]
	var brokerListeners []string
	for _, l := range c.Listeners {
		if !c.isControllerListener(l.Name) {
			brokerListeners = append(brokerListeners, l.Name)
		}
	}
	if controller {
		if len(c.QuorumVoters) == 0 {
			return fmt.Errorf("config: a controller needs controller.quorum.voters: a dynamic quorum (controller.quorum.bootstrap.servers alone, KIP-853) is not supported")
		}
		if !voter {
			return fmt.Errorf("config: if process.roles contains the 'controller' role, the node id %d must be included in the set of voters controller.quorum.voters=%s", c.NodeID, formatVoters(c.QuorumVoters))
		}
		if len(c.ControllerListenerNames) == 0 || len(brokerListeners) == len(c.Listeners) {
			return fmt.Errorf("config: controller.listener.names must contain at least one value appearing in the 'listeners' configuration when running the KRaft controller role (%s)", listeners)
		}
		for _, name := range c.ControllerListenerNames {
			if !slices.ContainsFunc(c.Listeners, func(l Listener) bool { return l.Name == name }) {
				return fmt.Errorf("config: controller.listener.names must only contain values appearing in the 'listeners' configuration when running the KRaft controller role: %s is not in %s", name, listeners)
			}
		}
	}
	if !broker { // controller only
		if len(brokerListeners) > 0 {
			return fmt.Errorf("config: the listeners config must only contain KRaft controller listeners from controller.listener.names when process.roles=controller (%s)", listeners)
		}
		if c.isControllerListener(c.InterBrokerListenerName) {
			return fmt.Errorf("config: controller.listener.names must not contain inter.broker.listener.name (%s) when process.roles=controller", c.InterBrokerListenerName)
		}
		return nil
	}
	if !controller { // broker only
		if voter {
			return fmt.Errorf("config: if process.roles contains just the 'broker' role, the node id %d must not be included in the set of voters controller.quorum.voters=%s", c.NodeID, formatVoters(c.QuorumVoters))
		}
		if len(c.ControllerListenerNames) == 0 {
			return fmt.Errorf("config: controller.listener.names must contain at least one value when running KRaft with just the broker role")
		}
		if len(brokerListeners) < len(c.Listeners) {
			return fmt.Errorf("config: controller.listener.names must not contain a value appearing in the 'listeners' configuration when running KRaft with just the broker role (%s)", listeners)
		}
	}
	if len(brokerListeners) == 0 {
		return fmt.Errorf("config: there must be at least one broker listener. Perhaps all listeners appear in controller.listener.names? (%s)", listeners)
	}
	if !slices.Contains(brokerListeners, c.InterBrokerListenerName) {
		return fmt.Errorf("config: inter.broker.listener.name must be a listener name defined in listeners: %s is not; the valid options are %s", c.InterBrokerListenerName, strings.Join(brokerListeners, ","))
	}
	return nil
}

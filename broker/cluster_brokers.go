package broker

import (
	"cmp"
	"slices"

	"runnel/broker/metadata"
)

// brokerEndpoint is a broker as Metadata and DescribeCluster list it.
type brokerEndpoint struct {
	id   int32
	host string
	port int32
	rack *string
}

// liveBrokers are the brokers clients may use, by node id: the unfenced
// registered brokers, each with its endpoint on the client listener
// (clientListener: the listener the request came in on), and this broker
// with its advertised host and port, whatever the image says of it (the
// client is talking to it; a port chosen at Serve is known only here).
func (b *Broker) liveBrokers(img *metadata.Image) []brokerEndpoint {
	name := b.clientListener().Name
	host, port := b.advertised()
	self := brokerEndpoint{id: b.cfg.NodeID, host: host, port: port}
	if b.cfg.BrokerRack != "" {
		self.rack = &b.cfg.BrokerRack
	}
	out := []brokerEndpoint{self}
	for _, br := range img.LiveBrokers() {
		if br.NodeID == b.cfg.NodeID {
			continue
		}
		l, ok := br.Listener(name)
		if !ok || l.Port == 0 {
			continue
		}
		e := brokerEndpoint{id: br.NodeID, host: l.Host, port: int32(l.Port)}
		if br.Rack != "" {
			e.rack = &br.Rack
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(x, y brokerEndpoint) int { return cmp.Compare(x.id, y.id) })
	return out
}

// controllerID is the controller id Metadata and DescribeCluster give
// clients, as KRaft brokers do: the active controller's node id when it is
// a live broker (a combined node), else a live broker's (clients send it
// admin requests, which any broker forwards).
func (b *Broker) controllerID(live []brokerEndpoint) int32 {
	if b.quorum != nil {
		if lead := b.quorum.ctrl.Leader(); lead != 0 {
			id := int32(lead - 1)
			if slices.ContainsFunc(live, func(e brokerEndpoint) bool { return e.id == id }) {
				return id
			}
		}
	}
	return b.cfg.NodeID
}

package broker

// The controller listener (the first of controller.listener.names in
// listeners) of a node that is a controller quorum voter with peers. New
// listens on it before it waits for the quorum, as Kafka binds its
// controller's socket server first, since the voters' Raft traffic comes
// in there: a connection that opens with the quorum's magic ("RNRF",
// quorum/doc.go) goes to the Raft transport with the four bytes put back;
// any other is a Kafka connection, served at once (brokers register and
// follow the metadata log before their New returns), on which only the
// controller APIs (controllerListenerAPIs) are served: by this node's own
// controller, NOT_CONTROLLER (NOT_LEADER_OR_FOLLOWER for the Raft ones) when
// it is not the active one.

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/quorum"
)

// controllerListenerAPIs are the APIs the controller listener serves (and
// its ApiVersions lists): KRaft's controller APIs that Runnel has.
var controllerListenerAPIs = map[int16]bool{
	kmsg.ApiVersions.Int16():                true,
	kmsg.DescribeQuorum.Int16():             true,
	kmsg.Fetch.Int16():                      true, // __cluster_metadata-0 only (FetchMetadata)
	kmsg.FetchSnapshot.Int16():              true,
	kmsg.BrokerRegistration.Int16():         true,
	kmsg.BrokerHeartbeat.Int16():            true,
	kmsg.AlterPartition.Int16():             true,
	kmsg.AllocateProducerIDs.Int16():        true,
	kmsg.ElectLeaders.Int16():               true,
	kmsg.CreateTopics.Int16():               true,
	kmsg.DeleteTopics.Int16():               true,
	kmsg.CreatePartitions.Int16():           true,
	kmsg.AlterConfigs.Int16():               true,
	kmsg.IncrementalAlterConfigs.Int16():    true,
	kmsg.AlterPartitionAssignments.Int16():  true,
	kmsg.ListPartitionReassignments.Int16(): true,
}

// sniffTimeout bounds the wait for a new connection's first four bytes.
const sniffTimeout = 10 * time.Second

// controllerListenAddr is the controller listener's host:port, "" when
// listeners holds none.
func (b *Broker) controllerListenAddr() string {
	for _, name := range b.cfg.ControllerListenerNames {
		for _, l := range b.cfg.Listeners {
			if l.Name == name {
				return net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
			}
		}
	}
	return ""
}

// startControllerListener listens on the controller listener and serves it
// until Close.
func (b *Broker) startControllerListener() error {
	addr := b.controllerListenAddr()
	if b.quorum == nil || b.quorum.tcp == nil || addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("broker: controller listener: %w", err)
	}
	b.mu.Lock()
	b.listeners = append(b.listeners, ln)
	b.controllerLn = ln
	b.mu.Unlock()
	b.logger.Info("listening for the controller quorum", "addr", ln.Addr().String())
	b.bg.Go(func() {
		err := b.acceptConns(ln, func(nc net.Conn) bool {
			go b.sniffControllerConn(nc)
			return true
		})
		if err != ErrClosed {
			b.logger.Error("controller listener stopped", "err", err)
		}
	})
	return nil
}

// sniffControllerConn reads a controller listener connection's first four
// bytes and hands it, with them put back, to the Raft transport or to the
// Kafka request path.
func (b *Broker) sniffControllerConn(nc net.Conn) {
	nc.SetReadDeadline(time.Now().Add(sniffTimeout))
	var first [len(quorum.Magic)]byte
	if _, err := io.ReadFull(nc, first[:]); err != nil {
		nc.Close()
		return
	}
	nc.SetReadDeadline(time.Time{})
	pc := &peekedConn{Conn: nc, r: io.MultiReader(bytes.NewReader(first[:]), nc)}
	if string(first[:]) == quorum.Magic {
		if !b.serveQuorumConn(pc) {
			pc.Close()
		}
		return
	}
	if !b.addConn(pc, true) {
		pc.Close()
	}
}

// peekedConn is a connection whose first bytes were read and are read
// again from r.
type peekedConn struct {
	net.Conn
	r io.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

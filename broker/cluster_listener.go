package broker

// The controller listener (the first of controller.listener.names in
// listeners) of a node that is a controller quorum voter with peers. New
// listens on it before it waits for the quorum, as Kafka binds its
// controller's socket server first, since the voters' Raft traffic comes
// in there: a connection that opens with the quorum's magic ("RNRF",
// quorum/doc.go) goes to the Raft transport with the four bytes put back;
// any other is a Kafka connection (served once New has finished), on which
// the controller APIs are answered by this node's own controller
// (NOT_CONTROLLER when it is not the active one).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"runnel/broker/quorum"
)

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
	b.mu.Unlock()
	b.logger.Info("listening for the controller quorum", "addr", ln.Addr().String())
	b.bg.Go(func() {
		var backoff time.Duration
		for {
			nc, err := ln.Accept()
			if err != nil {
				select {
				case <-b.done:
					return
				default:
				}
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					b.logger.Error("controller listener stopped", "err", err)
					return
				}
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			backoff = 0
			go b.sniffControllerConn(nc)
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
	if !b.serving.Load() || !b.addConn(pc, true) {
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

package broker

// The broker's registration (KIP-631), by controllerclient.Lifecycle: at
// start it registers with the active controller (BrokerRegistration, a new
// incarnation id per start) and heartbeats, reporting the metadata offset
// it has applied, until the controller unfences it (it has caught up with
// the log up to its registration); then every broker.heartbeat.interval.ms,
// registering again when the controller no longer knows its epoch. New
// returns only once the broker is unfenced and has applied its unfencing,
// so that it serves as a full member at once; Close runs the controlled
// shutdown. A single node does all this through its own controller, so the
// image holds it as a cluster's would.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/controllerclient"
	"runnel/broker/metadata"
)

// registration is the broker's standing with the controller, as its
// Lifecycle reports it.
type registration struct {
	lifecycle *controllerclient.Lifecycle
	mu        sync.Mutex
	state     controllerclient.LifecycleState
	changed   chan struct{} // closed and replaced when state changes
}

// clientListener is the listener clients reach this broker on: the first
// that is not a controller listener (its name is the one the request came
// in on, in Metadata), with the advertised host and port.
func (b *Broker) clientListener() metadata.Listener {
	name := "PLAINTEXT"
	for _, l := range b.cfg.Listeners {
		if !b.cfg.isControllerListener(l.Name) {
			name = l.Name
			break
		}
	}
	host, port := b.advertised()
	return metadata.Listener{Name: name, Host: host, Port: uint16(port), SecurityProtocol: metadata.ProtocolPlaintext}
}

// registrar sends the lifecycle requests to the broker's controller() as
// it is at each call.
type registrar Broker

func (r *registrar) RegisterBroker(ctx context.Context, req *kmsg.BrokerRegistrationRequest) *kmsg.BrokerRegistrationResponse {
	return (*Broker)(r).controller().RegisterBroker(ctx, req)
}

func (r *registrar) BrokerHeartbeat(ctx context.Context, req *kmsg.BrokerHeartbeatRequest) *kmsg.BrokerHeartbeatResponse {
	return (*Broker)(r).controller().BrokerHeartbeat(ctx, req)
}

// startLifecycle starts registering and heartbeating.
func (b *Broker) startLifecycle() error {
	l := b.clientListener()
	rl := kmsg.NewBrokerRegistrationRequestListener()
	rl.Name, rl.Host, rl.Port, rl.SecurityProtocol = l.Name, l.Host, l.Port, int16(l.SecurityProtocol)
	var prev int64
	if br, ok := b.image().Broker(b.cfg.NodeID); ok {
		// The epoch this node's metadata log recorded for it: the same
		// node restarted, not another with its id.
		prev = br.Epoch
	}
	b.registration.changed = make(chan struct{})
	b.registration.state = controllerclient.LifecycleState{BrokerEpoch: -1, Fenced: true} // the Lifecycle's first state
	lc, err := controllerclient.StartLifecycle(controllerclient.LifecycleConfig{
		Controller:          (*registrar)(b),
		ClusterID:           b.clusterID,
		NodeID:              b.cfg.NodeID,
		Listeners:           []kmsg.BrokerRegistrationRequestListener{rl},
		Rack:                b.cfg.BrokerRack,
		PreviousBrokerEpoch: prev,
		HeartbeatInterval:   b.cfg.BrokerHeartbeatInterval,
		SessionTimeout:      b.cfg.BrokerSessionTimeout,
		ShutdownTimeout:     b.cfg.Control.ControlledShutdownTimeout,
		MetadataOffset:      b.AppliedOffset,
		OnChange:            b.lifecycleChanged,
		Logger:              b.logger,
	})
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.registration.lifecycle = lc
	return nil
}

func (b *Broker) lifecycleChanged(s controllerclient.LifecycleState) {
	r := &b.registration
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.Fenced != r.state.Fenced || s.BrokerEpoch != r.state.BrokerEpoch {
		b.logger.Info("broker registration", "epoch", s.BrokerEpoch, "fenced", s.Fenced)
	}
	r.state = s
	close(r.changed)
	r.changed = make(chan struct{})
}

// awaitUnfenced waits until the controller has unfenced this broker and
// this broker has applied its unfencing, logging every few seconds while it
// waits (no active controller yet). A single node waits up to the admin
// timeout; a node of several as long as it takes, as for the quorum.
func (b *Broker) awaitUnfenced() error {
	ctx := b.lifetime
	if len(b.cfg.ProcessRoles) == 0 {
		var cancel context.CancelFunc
		ctx, cancel = b.adminContext(0)
		defer cancel()
	}
	r := &b.registration
	start := time.Now()
	warn := time.NewTicker(5 * time.Second)
	defer warn.Stop()
	for {
		r.mu.Lock()
		s, changed := r.state, r.changed
		r.mu.Unlock()
		if s.BrokerEpoch >= 0 && !s.Fenced {
			break
		}
		select {
		case <-changed:
		case <-warn.C:
			b.logger.Warn("waiting to be registered and unfenced by the active controller", "epoch", s.BrokerEpoch,
				"caught_up", s.CaughtUp, "applied", b.AppliedOffset(), "waited", time.Since(start).Round(time.Second))
		case <-ctx.Done():
			return fmt.Errorf("broker: waiting to be unfenced: %w", ctx.Err())
		}
	}
	// Serve an image that says so.
	return b.awaitController(ctx, b.controller())
}

// stopLifecycle runs the controlled shutdown (the controller fences this
// broker and moves its leaderships) and stops heartbeating.
func (b *Broker) stopLifecycle() {
	if lc := b.registration.lifecycle; lc != nil {
		lc.Close()
	}
}

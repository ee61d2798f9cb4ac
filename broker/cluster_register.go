package broker

// The broker's registration (KIP-631): at start it registers with the active
// controller (BrokerRegistration, a new incarnation id per start) and
// heartbeats until it is unfenced, which the controller does once the
// broker has applied the metadata log up to its registration; then it
// heartbeats every broker.heartbeat.interval.ms, reporting the metadata
// offset it has applied, and registers again when the controller no longer
// knows its epoch (STALE_BROKER_EPOCH, BROKER_ID_NOT_REGISTERED). A single
// node does all this through its own controller, so the image holds it as
// a cluster's would.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
)

// unfenceRetry is how often a fenced or unregistered broker tries again.
const unfenceRetry = 10 * time.Millisecond

// registration is the broker's registration state; the heartbeat loop
// owns it once startup has registered.
type registration struct {
	mu          sync.Mutex
	incarnation [16]byte
	epoch       int64      // -1: not registered
	warn        logLimiter // heartbeat failures (every 10 ms while no controller answers)
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

// register registers this broker with the controller and returns its epoch.
func (b *Broker) register(ctx context.Context) (int64, error) {
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID = b.cfg.NodeID
	req.ClusterID = b.clusterID
	b.registration.mu.Lock()
	req.IncarnationID = b.registration.incarnation
	b.registration.mu.Unlock()
	req.PreviousBrokerEpoch = -1
	if prev, ok := b.image().Broker(b.cfg.NodeID); ok {
		// The epoch this node's own metadata log recorded for it: the
		// same node restarted, not another with its id.
		req.PreviousBrokerEpoch = prev.Epoch
	}
	l := b.clientListener()
	rl := kmsg.NewBrokerRegistrationRequestListener()
	rl.Name, rl.Host, rl.Port, rl.SecurityProtocol = l.Name, l.Host, l.Port, int16(l.SecurityProtocol)
	req.Listeners = []kmsg.BrokerRegistrationRequestListener{rl}
	if b.cfg.BrokerRack != "" {
		req.Rack = kmsg.StringPtr(b.cfg.BrokerRack)
	}
	resp := b.controller().RegisterBroker(ctx, req)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return -1, err
	}
	b.registration.mu.Lock()
	b.registration.epoch = resp.BrokerEpoch
	b.registration.mu.Unlock()
	return resp.BrokerEpoch, nil
}

// heartbeat sends one heartbeat; fenced reports the controller's answer.
func (b *Broker) heartbeat(ctx context.Context) (fenced bool, err error) {
	b.registration.mu.Lock()
	epoch := b.registration.epoch
	b.registration.mu.Unlock()
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.BrokerID, req.BrokerEpoch = b.cfg.NodeID, epoch
	req.CurrentMetadataOffset = b.AppliedOffset()
	resp := b.controller().BrokerHeartbeat(ctx, req)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return true, err
	}
	return resp.IsFenced, nil
}

// registerAndUnfence registers and heartbeats until the controller unfences
// this broker (it has caught up) and this broker has applied its unfencing,
// within ctx.
func (b *Broker) registerAndUnfence(ctx context.Context) error {
	if _, err := b.register(ctx); err != nil {
		return fmt.Errorf("broker: registering with the controller: %w", err)
	}
	for {
		fenced, err := b.heartbeat(ctx)
		if err != nil {
			return fmt.Errorf("broker: heartbeat: %w", err)
		}
		if !fenced { // and serve an image that says so
			return b.awaitController(ctx, b.controller())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("broker: waiting to be unfenced: %w", ctx.Err())
		case <-time.After(unfenceRetry):
		}
	}
}

// registered reports whether the broker holds a registration epoch.
func (b *Broker) registered() bool {
	b.registration.mu.Lock()
	defer b.registration.mu.Unlock()
	return b.registration.epoch >= 0
}

// heartbeats heartbeats every broker.heartbeat.interval.ms until Close,
// registering again when the controller no longer knows this broker.
func (b *Broker) heartbeats() {
	defer b.bg.Done()
	fenced := !b.registered()
	for {
		wait := b.cfg.BrokerHeartbeatInterval
		if fenced {
			wait = min(wait, unfenceRetry) // catching up, or no controller yet
		}
		select {
		case <-b.done:
			return
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(b.lifetime, b.cfg.BrokerHeartbeatInterval)
		var err error
		if b.registered() {
			fenced, err = b.heartbeat(ctx)
		}
		if !b.registered() || err == kerr.StaleBrokerEpoch || err == kerr.BrokerIDNotRegistered {
			if _, err = b.register(ctx); err == nil {
				fenced, err = b.heartbeat(ctx)
			}
		}
		cancel()
		if err != nil && b.lifetime.Err() == nil {
			if ok, suppressed := b.registration.warn.allow(time.Now()); ok {
				b.logger.Warn("broker heartbeat failed", "err", err, "suppressed", suppressed)
			}
		}
	}
}

package controllerclient

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// LifecycleConfig configures a broker's Lifecycle.
type LifecycleConfig struct {
	// Controller is where registrations and heartbeats go: a Client (the
	// active controller over the network) or a combined node's own
	// controller.
	Controller Registrar
	ClusterID  string
	NodeID     int32
	// Listeners are the broker's advertised listeners.
	Listeners []kmsg.BrokerRegistrationRequestListener
	Rack      string // broker.rack ("": none)
	// PreviousBrokerEpoch is the epoch this node had before a clean
	// shutdown (0: none known), which lets the controller take the new
	// incarnation's registration before the old session expires.
	PreviousBrokerEpoch int64
	// HeartbeatInterval is broker.heartbeat.interval.ms (default 2 s).
	HeartbeatInterval time.Duration
	// SessionTimeout is broker.session.timeout.ms (default 9 s): it bounds
	// each request, the backoff after failures and, unless
	// ShutdownTimeout is set, the controlled shutdown.
	SessionTimeout  time.Duration
	ShutdownTimeout time.Duration
	// MetadataOffset returns the offset of the last metadata log entry the
	// broker has applied to its image (AppliedOffset), sent as each
	// heartbeat's CurrentMetadataOffset.
	MetadataOffset func() int64
	// OnChange, if set, is called with each new state, one call at a time.
	OnChange func(LifecycleState)
	Logger   *slog.Logger // nil: slog.Default()
}

// Registrar answers the broker lifecycle requests as the active controller
// does: *Client forwards them to it, a combined node's
// *controller.Controller answers them itself (NOT_CONTROLLER when it is
// not the active one). An answer carrying an error code is retried.
type Registrar interface {
	RegisterBroker(context.Context, *kmsg.BrokerRegistrationRequest) *kmsg.BrokerRegistrationResponse
	BrokerHeartbeat(context.Context, *kmsg.BrokerHeartbeatRequest) *kmsg.BrokerHeartbeatResponse
}

// LifecycleState is the broker's standing with the active controller, as
// its last answer gave it.
type LifecycleState struct {
	// BrokerEpoch is the epoch of the current registration (-1 before one).
	BrokerEpoch int64
	// CaughtUp: the broker's metadata offset has reached its registration.
	CaughtUp bool
	// Fenced: the broker may not lead or host partitions (it starts so).
	Fenced bool
	// ShuttingDown: Close began a controlled shutdown.
	ShuttingDown bool
}

// Lifecycle is the broker's side of KIP-631, after Kafka's
// BrokerLifecycleManager: it registers the broker (BrokerRegistration with
// a new incarnation id per process), then heartbeats (BrokerHeartbeat)
// every HeartbeatInterval, asking to stay fenced (WantFence) until the
// controller says the broker has caught up with the metadata log, so that
// the next heartbeat lets the controller unfence it. While not caught up
// or still fenced it heartbeats every 10 ms, as Kafka does, to start
// quicker. A failed request is retried after an exponential backoff (100 ms doubling, up to
// the session timeout, 2% jitter). An answer STALE_BROKER_EPOCH or
// BROKER_ID_NOT_REGISTERED (the controller holds another registration, or
// none) makes it register again at once. Close runs the controlled
// shutdown: heartbeats with WantShutDown until the controller answers
// ShouldShutDown (it has moved the broker's leaderships and the other
// brokers know their new leaders), ShutdownTimeout passes, or no
// controller has answered for two heartbeat intervals (the last brokers of
// a cluster that stops whole have none left, and without one nothing can
// move); a broker that is not registered and unfenced shuts down at once.
type Lifecycle struct {
	cfg         LifecycleConfig
	logger      *slog.Logger
	incarnation [16]byte

	mu    sync.Mutex
	state LifecycleState

	closing context.Context // ends when Close is called: it cuts short the request in flight
	close   context.CancelFunc
	done    chan struct{}
}

// StartLifecycle starts registering and heartbeating in a goroutine.
func StartLifecycle(cfg LifecycleConfig) (*Lifecycle, error) {
	if cfg.Controller == nil || cfg.MetadataOffset == nil {
		return nil, errors.New("controllerclient: a lifecycle needs a controller and a metadata offset")
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 2 * time.Second
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 9 * time.Second
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = cfg.SessionTimeout
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	l := &Lifecycle{cfg: cfg, logger: logger.With("broker", cfg.NodeID), state: LifecycleState{BrokerEpoch: -1, Fenced: true},
		done: make(chan struct{})}
	l.closing, l.close = context.WithCancel(context.Background())
	_, _ = rand.Read(l.incarnation[:]) // crypto/rand.Read never fails
	go l.run()
	return l, nil
}

// IncarnationID is this process's incarnation id.
func (l *Lifecycle) IncarnationID() [16]byte { return l.incarnation }

// State is the broker's state as the last answer gave it.
func (l *Lifecycle) State() LifecycleState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state
}

// Close runs the controlled shutdown (see Lifecycle) and stops.
func (l *Lifecycle) Close() {
	l.close()
	<-l.done
}

// setState records and reports a new state.
func (l *Lifecycle) setState(s LifecycleState) {
	l.mu.Lock()
	changed := s != l.state
	l.state = s
	l.mu.Unlock()
	if changed && l.cfg.OnChange != nil {
		l.cfg.OnChange(s)
	}
}

// Delays between communications, from Kafka's BrokerLifecycleManager.
const (
	startingHeartbeat     = 10 * time.Millisecond // not caught up or not unfenced yet
	firstShutdownRecheck  = 50 * time.Millisecond // the first answer not letting the broker go
	initialFailureBackoff = 100 * time.Millisecond
)

// run owns the registration: it sends one request at a time.
func (l *Lifecycle) run() {
	defer close(l.done)
	var (
		state     = l.State()
		delay     time.Duration
		failures  int
		deadline  time.Time // of the controlled shutdown
		answered  time.Time // the last answer during the controlled shutdown (or its start)
		shutdowns int       // answers to WantShutDown so far
	)
	closing := l.closing.Done()
	for {
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-closing:
			timer.Stop()
			closing = nil
			if state.BrokerEpoch < 0 || state.Fenced {
				l.logger.Info("controllerclient: shutting down without a controlled shutdown", "epoch", state.BrokerEpoch, "fenced", state.Fenced)
				return
			}
			state.ShuttingDown = true
			l.setState(state)
			deadline = time.Now().Add(l.cfg.ShutdownTimeout)
			answered = time.Now()
			l.logger.Info("controllerclient: beginning controlled shutdown")
		}
		// A request ends with the session timeout, or when Close is called;
		// one of the controlled shutdown ends with its deadline.
		base, limit := l.closing, time.Now().Add(l.cfg.SessionTimeout)
		if state.ShuttingDown {
			limit = deadline
			if quiet := answered.Add(2 * l.cfg.HeartbeatInterval); quiet.Before(limit) {
				limit = quiet
			}
			if !time.Now().Before(limit) {
				if limit.Equal(deadline) {
					l.logger.Warn("controllerclient: the controller did not end the controlled shutdown in time", "timeout", l.cfg.ShutdownTimeout)
				} else {
					l.logger.Warn("controllerclient: ending the controlled shutdown: no controller answers", "for", 2*l.cfg.HeartbeatInterval)
				}
				return
			}
			base = context.Background()
		}
		ctx, cancel := context.WithDeadline(base, limit)
		var err error
		if state.BrokerEpoch < 0 {
			state, err = l.register(ctx, state)
			if err == nil {
				delay = 0 // heartbeat at once
			}
		} else {
			resp := l.heartbeat(ctx, state)
			switch {
			case resp.ErrorCode == kerr.StaleBrokerEpoch.Code || resp.ErrorCode == kerr.BrokerIDNotRegistered.Code:
				l.logger.Warn("controllerclient: registering again", "epoch", state.BrokerEpoch, "err", kerr.ErrorForCode(resp.ErrorCode))
				state = LifecycleState{BrokerEpoch: -1, Fenced: true, ShuttingDown: state.ShuttingDown}
			case resp.ErrorCode != 0:
				err = kerr.ErrorForCode(resp.ErrorCode)
			case state.ShuttingDown && resp.ShouldShutdown:
				state.CaughtUp, state.Fenced = resp.IsCaughtUp, resp.IsFenced
				l.setState(state)
				cancel()
				l.logger.Info("controllerclient: the controller ended the controlled shutdown")
				return
			default:
				state.CaughtUp, state.Fenced = resp.IsCaughtUp, resp.IsFenced
				switch {
				case state.ShuttingDown && shutdowns == 0:
					delay = firstShutdownRecheck
				case !state.CaughtUp || state.Fenced:
					// Caught up but still fenced: the next heartbeat, no
					// longer asking to stay fenced, unfences (Kafka's
					// broker asks at once once it is ready to unfence).
					delay = startingHeartbeat
				default:
					delay = l.cfg.HeartbeatInterval
				}
				if state.ShuttingDown {
					shutdowns++
					answered = time.Now()
				}
			}
		}
		cancel()
		switch {
		case err != nil && !state.ShuttingDown && l.closing.Err() != nil:
			delay = 0 // cut short by Close: the shutdown begins at once
		case err != nil:
			delay = l.backoff(failures)
			failures++
			l.logger.Warn("controllerclient: broker lifecycle request failed", "epoch", state.BrokerEpoch, "retry_in", delay, "err", err)
		default:
			failures = 0
		}
		l.setState(state)
		if state.ShuttingDown && state.BrokerEpoch < 0 {
			return // the registration was lost: nothing to shut down
		}
	}
}

// backoff is Kafka's ExponentialBackoff(100 ms, 2, session timeout, 2%).
func (l *Lifecycle) backoff(failures int) time.Duration {
	d := float64(initialFailureBackoff) * math.Pow(2, float64(min(failures, 30)))
	d = min(d, float64(l.cfg.SessionTimeout))
	return time.Duration(d * (0.98 + 0.04*mrand.Float64()))
}

// register sends BrokerRegistration and returns the state it leads to.
func (l *Lifecycle) register(ctx context.Context, state LifecycleState) (LifecycleState, error) {
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID, req.ClusterID, req.IncarnationID = l.cfg.NodeID, l.cfg.ClusterID, l.incarnation
	req.Listeners = l.cfg.Listeners
	if l.cfg.Rack != "" {
		req.Rack = kmsg.StringPtr(l.cfg.Rack)
	}
	req.PreviousBrokerEpoch = -1
	if l.cfg.PreviousBrokerEpoch > 0 {
		req.PreviousBrokerEpoch = l.cfg.PreviousBrokerEpoch
	}
	r := l.cfg.Controller.RegisterBroker(ctx, req)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return state, err
	}
	l.logger.Info("controllerclient: registered", "epoch", r.BrokerEpoch)
	return LifecycleState{BrokerEpoch: r.BrokerEpoch, Fenced: true, ShuttingDown: state.ShuttingDown}, nil
}

// heartbeat sends one BrokerHeartbeat.
func (l *Lifecycle) heartbeat(ctx context.Context, state LifecycleState) *kmsg.BrokerHeartbeatResponse {
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.BrokerID, req.BrokerEpoch = l.cfg.NodeID, state.BrokerEpoch
	req.CurrentMetadataOffset = l.cfg.MetadataOffset()
	req.WantFence = !state.CaughtUp
	req.WantShutdown = state.ShuttingDown
	return l.cfg.Controller.BrokerHeartbeat(ctx, req)
}

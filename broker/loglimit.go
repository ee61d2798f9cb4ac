package broker

import (
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Connections closed on an error are logged at most closeLogBurst times
// per closeLogInterval, broker-wide: a client can open connection after
// connection and send garbage, a line each without a limit, and the log
// must stay readable. A connection is closed at its
// first malformed request, so each logs at most one line. Every malformed
// request is counted in runnel_malformed_requests_total.
const (
	closeLogBurst    = 10
	closeLogInterval = time.Minute
)

// logLimiter lets the first burst events of each interval through and
// counts the others, for the next line let through to report.
type logLimiter struct {
	burst    int
	interval time.Duration

	mu         sync.Mutex
	start      time.Time // of the current interval
	passed     int       // events let through in it
	suppressed int       // events held back since the last let through
}

// allow says whether an event at now may be logged and, if so, how many
// were held back before it.
func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) >= l.interval {
		l.start, l.passed = now, 0
	}
	if l.passed >= l.burst {
		l.suppressed++
		return false, 0
	}
	l.passed++
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// closedOnError logs, rate-limited, a connection closed on err, and
// counts it when the client sent a malformed request (both transports).
func (b *Broker) closedOnError(logger *slog.Logger, err error) {
	if errors.Is(err, errBadRequest) || errors.Is(err, errFrameTooLarge) {
		b.metrics.malformedRequests.Inc()
	}
	ok, suppressed := b.closeLog.allow(time.Now())
	if !ok {
		return
	}
	if suppressed > 0 {
		logger.Warn("closing connection", "err", err, "suppressed", suppressed)
		return
	}
	logger.Warn("closing connection", "err", err)
}

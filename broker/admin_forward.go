package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// forwardItems is the part of an admin request (CreateTopics,
// DeleteTopics, CreatePartitions, AlterConfigs, IncrementalAlterConfigs)
// that goes through the controller ctrl: ask sends it the items that
// passed this broker's checks, the k-th of which stands at position at[k]
// of the response, and returns its per-item answers; unless validateOnly
// (nothing changes), forwardItems then waits until this broker has applied
// what the controller committed, so that the client sees its change on the
// broker that answered. put answers each position i with the controller's
// answer a and the error to report (errorOf of a): a is nil where the
// controller gave no answer (UNKNOWN_SERVER_ERROR), and a success this
// broker has not applied in time is REQUEST_TIMED_OUT. Nothing is asked
// when no item is left.
func forwardItems[A any](ctx context.Context, b *Broker, ctrl ClusterController, validateOnly bool, at []int,
	ask func() []A, errorOf func(*A) (int16, *string), put func(i int, a *A, code int16, message *string)) {
	if len(at) == 0 {
		return
	}
	answers := ask()
	var waitErr error
	if !validateOnly {
		waitErr = b.awaitController(ctx, ctrl)
	}
	for k, i := range at {
		if k >= len(answers) {
			put(i, nil, kerr.UnknownServerError.Code, nil)
			continue
		}
		a := &answers[k]
		code, message := errorOf(a)
		if code == 0 && waitErr != nil {
			code, message = kerr.RequestTimedOut.Code, kmsg.StringPtr(waitErr.Error())
		}
		put(i, a, code, message)
	}
}

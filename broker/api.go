package broker

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The API table. Each API lives in its own file that registers its handler
// from an init function; ApiVersions advertises exactly this table, so a
// version is served if and only if it is registered here.

// apiHandler serves one API key over a range of versions. Every version in
// [minVersion, maxVersion] must be decodable by kmsg and implemented.
type apiHandler struct {
	key        int16
	minVersion int16
	maxVersion int16
	// handle runs on the connection's reader goroutine (std) or event loop
	// (epoll) and must not block for long, unless the API is marked
	// blocking below: it either finishes the reply before returning or arranges
	// for another goroutine to finish it later (produce waiting for an
	// fsync, fetch long-polling). It must finish the reply exactly once.
	handle func(*Broker, *request) *reply
	// blocking marks an API whose handler does file-system work that can
	// take milliseconds: creating or deleting logs, syncing topics.json.
	// The epoll transport runs it on a goroutine of its own and holds the
	// connection's later requests until it returns, so that an event loop
	// never waits for a disk. The std transport needs nothing: every
	// handler runs on its connection's own reader goroutine.
	blocking bool
}

// apis is indexed by API key; filled by init functions, read-only after.
var apis = map[int16]apiHandler{}

// registerAPI adds h to the table; it is called from init functions only,
// so a duplicate or an impossible range is a programming error.
func registerAPI(h apiHandler) {
	if _, dup := apis[h.key]; dup {
		panic(fmt.Sprintf("broker: api key %d registered twice", h.key))
	}
	req := kmsg.RequestForKey(h.key)
	if req == nil || h.minVersion < 0 || h.minVersion > h.maxVersion || h.maxVersion > req.MaxVersion() || h.handle == nil {
		panic(fmt.Sprintf("broker: bad registration for api key %d [%d, %d]", h.key, h.minVersion, h.maxVersion))
	}
	apis[h.key] = h
}

// apiKeysSorted lists the registered keys in increasing order (ApiVersions
// answers in this order, as Kafka does).
func apiKeysSorted() []int16 {
	keys := make([]int16, 0, len(apis))
	for k := range apis {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// request is one decoded request, handed to a handler.
type request struct {
	correlationID int32
	clientID      *string
	version       int16
	// msg is the decoded request. Byte slices inside it (a produce's
	// records, a JoinGroup's member metadata) point into the frame
	// buffer. For most APIs that buffer belongs to the request, so a
	// handler may keep such slices. Only for the APIs in frameReusers does
	// the connection reuse it for the next request once the handler
	// returns, unless the handler called retainBuffer. Strings are copies.
	msg    kmsg.Request
	conn   *conn
	broker *Broker

	retained bool
}

// frameReusers are the APIs whose handlers are done with the frame buffer
// when they return: Produce copies the records into the segment. Reusing
// the buffer saves an allocation of the size of every produce request.
var frameReusers = map[int16]bool{kmsg.Produce.Int16(): true}

// retainBuffer tells the connection that the handler of an API in
// frameReusers still uses byte slices of msg after returning (records
// queued for a later append), so the frame buffer must not be reused.
func (r *request) retainBuffer() { r.retained = true }

// clientIDString returns the client id or "" when the client sent null.
func (r *request) clientIDString() string {
	if r.clientID == nil {
		return ""
	}
	return *r.clientID
}

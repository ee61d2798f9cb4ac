package controllerclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/quorum"
)

// ErrNoController is wrapped by a Request that ended (its context did)
// before an active controller answered.
var ErrNoController = errors.New("controllerclient: no active controller answered")

// Config configures a Client.
type Config struct {
	// Voters are controller.quorum.voters: each voter's node id and the
	// host:port of its controller listener.
	Voters map[int32]string
	// BootstrapServers are controller.quorum.bootstrap.servers, used when
	// Voters is empty.
	BootstrapServers []string
	// MinBackoff and MaxBackoff bound the wait between two attempts of a
	// request (defaults 50 ms and 1 s, doubling from one to the other).
	MinBackoff, MaxBackoff time.Duration
	// Opts are more kgo options (a dialer for TLS or SASL, a client id).
	Opts   []kgo.Opt
	Logger *slog.Logger // nil: slog.Default()
}

// Client sends requests to the active controller over the controller
// listener, through one kgo.Client seeded with the controllers' addresses.
// It is safe for concurrent use.
type Client struct {
	cl        *kgo.Client
	endpoints []endpoint // in seed order
	cfg       Config
	logger    *slog.Logger

	mu     sync.Mutex
	active int // the endpoint that last answered as the active controller; -1 none
	next   int // where the next search starts
}

// endpoint is one controller: its node id (-1 when only its address is
// known) and the kgo seed broker that reaches it.
type endpoint struct {
	id     int32
	addr   string
	broker *kgo.Broker
}

// New returns a Client for the controllers cfg names. It connects lazily.
func New(cfg Config) (*Client, error) {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 50 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(time.Second, cfg.MinBackoff)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	var eps []endpoint
	for _, id := range slices.Sorted(maps.Keys(cfg.Voters)) {
		eps = append(eps, endpoint{id: id, addr: cfg.Voters[id]})
	}
	if len(eps) == 0 {
		for _, addr := range cfg.BootstrapServers {
			eps = append(eps, endpoint{id: -1, addr: addr})
		}
	}
	if len(eps) == 0 {
		return nil, errors.New("controllerclient: no controller addresses (controller.quorum.voters or controller.quorum.bootstrap.servers)")
	}
	addrs := make([]string, len(eps))
	for i, ep := range eps {
		addrs[i] = ep.addr
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, cfg.Opts...)...)
	if err != nil {
		return nil, fmt.Errorf("controllerclient: %w", err)
	}
	seeds := cl.SeedBrokers() // in the order of addrs
	if len(seeds) != len(eps) {
		cl.Close()
		return nil, fmt.Errorf("controllerclient: %d seed brokers for %d addresses", len(seeds), len(eps))
	}
	for i := range eps {
		eps[i].broker = seeds[i]
	}
	return &Client{cl: cl, endpoints: eps, cfg: cfg, logger: logger, active: -1}, nil
}

// Close closes the client's connections.
func (c *Client) Close() { c.cl.Close() }

// Request sends req to the active controller and returns its response.
// The active controller is the controller that last answered as one; when
// none is known, the controllers are asked in turn with DescribeQuorum and
// the Raft leader (the only one that answers it without an error) is
// taken. A connection error or a response that says its controller is not
// the active one (any error code NOT_CONTROLLER, or NOT_LEADER_OR_FOLLOWER
// for the Raft APIs) forgets that controller and tries again after a
// backoff, until ctx ends: so a request is sent again after a leader
// change, as Kafka's NodeToControllerChannelManager resends one, and an
// operation whose outcome was unknown may then find it done (a topic that
// already exists). Any other error in the response is the caller's to read.
func (c *Client) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	backoff := c.cfg.MinBackoff
	for {
		i, err := c.activeEndpoint(ctx)
		if err == nil {
			var resp kmsg.Response
			if resp, err = c.endpoints[i].broker.Request(ctx, req); err == nil {
				if !notActive(reflect.ValueOf(resp), raftAPIs[req.Key()]) {
					return resp, nil
				}
				err = fmt.Errorf("controller %s is not the active controller", c.endpoints[i].addr)
			}
			c.forget(i)
		}
		jittered := backoff/2 + rand.N(backoff/2+1)
		timer := time.NewTimer(jittered)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("%w: %w (last: %v)", ErrNoController, ctx.Err(), err)
		case <-timer.C:
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// activeEndpoint returns the endpoint that last answered as the active
// controller, or searches for the Raft leader once around the endpoints.
func (c *Client) activeEndpoint(ctx context.Context) (int, error) {
	c.mu.Lock()
	active, start := c.active, c.next
	c.mu.Unlock()
	if active >= 0 {
		return active, nil
	}
	var lastErr error
	for k := range c.endpoints {
		i := (start + k) % len(c.endpoints)
		leader, err := c.describeLeader(ctx, i)
		if err != nil {
			lastErr = err
			continue
		}
		if j := c.endpointOf(leader); j >= 0 {
			i = j
		}
		c.mu.Lock()
		c.active = i
		c.mu.Unlock()
		return i, nil
	}
	c.mu.Lock()
	c.next = (start + 1) % len(c.endpoints)
	c.mu.Unlock()
	return -1, lastErr
}

// describeLeader asks endpoint i for the quorum's leader: it answers only
// if it is the leader.
func (c *Client) describeLeader(ctx context.Context, i int) (int32, error) {
	resp, err := c.endpoints[i].broker.Request(ctx, describeQuorumRequest())
	if err != nil {
		return -1, err
	}
	p, err := quorumPartition(resp.(*kmsg.DescribeQuorumResponse))
	if err != nil {
		return -1, err
	}
	return p.LeaderID, nil
}

func (c *Client) endpointOf(id int32) int {
	for i, ep := range c.endpoints {
		if ep.id >= 0 && ep.id == id {
			return i
		}
	}
	return -1
}

// forget drops endpoint i as the active controller; the next search starts
// after it.
func (c *Client) forget(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.active == i {
		c.active = -1
		c.next = (i + 1) % len(c.endpoints)
	}
}

// raftAPIs are the requests a controller that is not the Raft leader
// answers NOT_LEADER_OR_FOLLOWER (metadata.go's FetchMetadata,
// FetchSnapshot, DescribeQuorum). For the others that code is the
// answer's own: AlterPartition's from a broker that no longer leads.
var raftAPIs = map[int16]bool{
	kmsg.Fetch.Int16():          true,
	kmsg.FetchSnapshot.Int16():  true,
	kmsg.DescribeQuorum.Int16(): true,
}

// notActive reports whether a response carries NOT_CONTROLLER (or, for a
// Raft API, NOT_LEADER_OR_FOLLOWER) in any of its ErrorCode fields,
// however deep.
func notActive(v reflect.Value, raft bool) bool {
	switch v.Kind() {
	case reflect.Pointer:
		return !v.IsNil() && notActive(v.Elem(), raft)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Field(i)
			if v.Type().Field(i).Name == "ErrorCode" && f.Kind() == reflect.Int16 {
				if code := int16(f.Int()); code == kerr.NotController.Code || raft && code == kerr.NotLeaderForPartition.Code {
					return true
				}
			} else if notActive(f, raft) {
				return true
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return false
		}
		for i := range v.Len() {
			if notActive(v.Index(i), raft) {
				return true
			}
		}
	}
	return false
}

// describeQuorumRequest asks about __cluster_metadata-0.
func describeQuorumRequest() *kmsg.DescribeQuorumRequest {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = quorum.Partition.Topic
	p := kmsg.NewDescribeQuorumRequestTopicPartition()
	p.Partition = quorum.Partition.Partition
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

// quorumPartition returns the one partition of a DescribeQuorum response,
// or its error.
func quorumPartition(resp *kmsg.DescribeQuorumResponse) (*kmsg.DescribeQuorumResponseTopicPartition, error) {
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, fmt.Errorf("controllerclient: DescribeQuorum answered %d topics", len(resp.Topics))
	}
	p := &resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return nil, err
	}
	return p, nil
}

// DescribeQuorum asks the active controller to describe the quorum
// (KIP-595): leader, epoch, high watermark, voters and observers.
func (c *Client) DescribeQuorum(ctx context.Context) (*kmsg.DescribeQuorumResponseTopicPartition, error) {
	resp, err := c.Request(ctx, describeQuorumRequest())
	if err != nil {
		return nil, err
	}
	return quorumPartition(resp.(*kmsg.DescribeQuorumResponse))
}

// CommittedOffset is the active controller's high watermark: the end
// offset of the committed metadata log (every entry below it is committed).
// A broker that forwarded an admin request and got its answer waits until
// its image's AppliedOffset reaches CommittedOffset-1 to see the change.
// A leader not yet active answers -1 (unknown), for the moment until it
// commits an entry of its term: it is asked again after MinBackoff, until
// ctx ends.
func (c *Client) CommittedOffset(ctx context.Context) (int64, error) {
	for {
		p, err := c.DescribeQuorum(ctx)
		if err != nil {
			return -1, err
		}
		if p.HighWatermark >= 0 {
			return p.HighWatermark, nil
		}
		timer := time.NewTimer(c.cfg.MinBackoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return -1, fmt.Errorf("controllerclient: controller %d (epoch %d) is not active yet: %w", p.LeaderID, p.LeaderEpoch, ctx.Err())
		case <-timer.C:
		}
	}
}

// RegisterBroker forwards a BrokerRegistration to the active controller;
// when none answers before ctx ends, the answer is REQUEST_TIMED_OUT.
func (c *Client) RegisterBroker(ctx context.Context, req *kmsg.BrokerRegistrationRequest) *kmsg.BrokerRegistrationResponse {
	resp, err := c.Request(ctx, req)
	if err != nil {
		r := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
		r.ErrorCode = kerr.RequestTimedOut.Code
		return r
	}
	return resp.(*kmsg.BrokerRegistrationResponse)
}

// BrokerHeartbeat forwards a BrokerHeartbeat to the active controller;
// when none answers before ctx ends, the answer is REQUEST_TIMED_OUT
// (fenced).
func (c *Client) BrokerHeartbeat(ctx context.Context, req *kmsg.BrokerHeartbeatRequest) *kmsg.BrokerHeartbeatResponse {
	resp, err := c.Request(ctx, req)
	if err != nil {
		r := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
		r.ErrorCode, r.IsFenced = kerr.RequestTimedOut.Code, true
		return r
	}
	return resp.(*kmsg.BrokerHeartbeatResponse)
}

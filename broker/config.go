package broker

import (
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"runnel/io/disk"
	"runnel/io/flush"
	"runnel/netpoll"
	"runnel/segment"
)

// Config is a broker's configuration. Build it with DefaultConfig and
// adjust fields, or from Kafka-style properties with NewConfig.
type Config struct {
	NodeID int32
	// ListenAddr is the host:port to listen on (from listeners).
	ListenAddr string
	// AdvertisedHost and AdvertisedPort are what Metadata tells clients
	// (from advertised.listeners, else listeners); port 0 means the port
	// actually bound, host "" this machine's host name.
	AdvertisedHost string
	AdvertisedPort int32
	LogDirs        []string

	NumPartitions int32
	// MaxPartitions caps a topic's partition count, so that one request
	// cannot make the broker create millions of logs.
	MaxPartitions            int32
	DefaultReplicationFactor int16
	AutoCreateTopics         bool
	SocketRequestMaxBytes    int32
	ConnectionsMaxIdle       time.Duration // 0 = never close idle connections
	RetentionCheckInterval   time.Duration
	// The log cleaner (log.cleaner.enable and log.cleaner.*; cleaner.go).
	CleanerEnable      bool
	Cleaner            segment.CleanerConfig
	CheckpointInterval time.Duration
	ShutdownTimeout    time.Duration // how long Close waits for in-flight requests
	// ReplicaFsync (runnel.replica.fsync): a follower counts toward the
	// high watermark only what it has fsynced (Redpanda's rule), else what
	// it has appended (Kafka's); replica.FetchersConfig.Durable. It applies
	// under the durable flush policy only: under interval the leader
	// counts its own log end, and followers count their appends.
	ReplicaFsync bool
	// FetchMaxWait caps a Fetch's MaxWaitMillis (runnel.fetch.max.wait.ms),
	// so that a request asking to wait for days pins nothing for that long.
	FetchMaxWait time.Duration

	// Fetch sessions (KIP-227, fetchsession.go). FetchSessionCacheSlots
	// (max.incremental.fetch.session.cache.slots) caps the sessions kept;
	// 0 keeps none, and every fetch is full. FetchSessionEvictionAfter
	// (runnel.min.incremental.fetch.session.eviction.ms, a constant in
	// Kafka) is how long a session lives before a larger one may take its
	// place, and how long unused before any new one may.
	FetchSessionCacheSlots    int32
	FetchSessionEvictionAfter time.Duration

	// ReplicationThrottledRate holds leader.replication.throttled.rate and
	// follower.replication.throttled.rate (bytes/s; math.MaxInt64: none),
	// the defaults the dynamic broker configs of the same names override
	// (replication_throttle.go).
	ReplicationThrottledRate [2]int64

	// AutoCreateMaxPartitions and AutoCreateMaxReservedBytes cap the
	// broker's partitions, and the disk they reserve, past which
	// auto-creation is refused (autocreate.go).
	AutoCreateMaxPartitions    int32
	AutoCreateMaxReservedBytes int64
	// RequestBufferAhead (runnel.request.buffer.ahead.bytes) is how much
	// memory, across connections, request frames over 1 MiB may be given
	// at their full size before their bytes arrive, to be read without a
	// copy; past it a frame's buffer grows with its bytes (doubling).
	RequestBufferAhead int64
	// Net is the transport (runnel.net): NetStd, goroutines over Go's net
	// package, or NetEpoll, event loops (Linux; elsewhere std serves).
	Net string

	// AdminListener is the host:port of the HTTP admin listener
	// (/metrics, /debug/pprof/, /healthz); "" disables it.
	AdminListener    string
	FlushPolicy      flush.Policy
	FlushMinInterval time.Duration
	// FlushSyncFSMinLogs (runnel.flush.syncfs.min.logs) is how many partitions of a log dir
	// due for a sync at once are synced together by one syncfs(2) of its file system instead
	// of one fdatasync each; 0 never does.
	FlushSyncFSMinLogs int32
	// FlushMaxDelay (runnel.flush.max.delay.ms) is how long, under the durable policy and
	// with many partitions written, appends that no producer waits for (acks 0 and 1) may
	// wait for their fsync, gathering into one syncfs (flush.Config.SoonDelay).
	FlushMaxDelay    time.Duration
	PreallocateBytes int64
	// ProducerIDExpiration (producer.id.expiration.ms) is how long a
	// producer id's deduplication state outlives its last batch.
	ProducerIDExpiration time.Duration
	// DropBehind (runnel.segment.drop.behind, true) drops synced pages from the page
	// cache once they are more than the keep window behind the durable ends
	// (segment.Config.DropBehind).
	DropBehind bool
	// CacheKeepBytes (runnel.segment.cache.keep.bytes, 1 GiB) is, with DropBehind, how many
	// synced bytes each log dir's partitions keep in the page cache behind their durable ends,
	// shared by those that appended lately, 1 to 64 MiB each (segment.Config.CacheKeepBytes).
	CacheKeepBytes int64
	// LogRecoveryScan (runnel.log.recovery.scan) is which segments opening the log dirs reads
	// batch by batch: recovery-point (Kafka's, the default) or full (segment.ScanFull).
	LogRecoveryScan segment.ScanMode
	// ClusterID, when set, must match the log dirs' meta.properties; when
	// empty, the stored one is used or a new one made on first start.
	ClusterID string

	// TopicDefaults maps topic config names (segment.bytes) to the broker's
	// default for them; keys not here take Kafka's default.
	TopicDefaults map[string]string

	// Groups configures the group coordinator (groups.go).
	Groups GroupConfig
	// Control is the replication control settings (cluster_control.go).
	Control ControlConfig

	// FS performs the logs' file operations; nil = the operating system's.
	// Not a property: tests set it (brokertest.StartFS) to inject faults.
	FS disk.FS

	// Cluster settings, with Kafka's names and meanings (clusterconfig.go); empty
	// ProcessRoles is a single combined node, the only voter of its quorum.
	//
	// Listeners is every listener of listeners (ListenAddr is the one served: the first that
	// is not a controller listener).
	Listeners               []Listener
	ProcessRoles            []string         // process.roles: "broker", "controller"
	QuorumVoters            map[int32]string // controller.quorum.voters: node id → host:port
	QuorumBootstrapServers  []string         // controller.quorum.bootstrap.servers: host:port
	ControllerListenerNames []string         // controller.listener.names
	// ListenerSecurityProtocols is listener.security.protocol.map: listener name → protocol.
	ListenerSecurityProtocols map[string]string
	InterBrokerListenerName   string // inter.broker.listener.name
	BrokerRack                string // broker.rack; "" none
	ReplicaSelector           string // replica.selector.class; "" none (fetch_follower.go)
	BrokerSessionTimeout      time.Duration
	BrokerHeartbeatInterval   time.Duration
	QuorumElectionTimeout     time.Duration
	MetadataLogDir            string // metadata.log.dir; "" the first log dir
	// ReplicaLagTimeMax (replica.lag.time.max.ms) is how long an ISR
	// follower may go without catching up before it leaves the ISR.
	ReplicaLagTimeMax time.Duration
	// ReplicaFetch tunes the followers' fetches (replica.fetch.*,
	// replica.socket.timeout.ms; fetch_replica.go).
	ReplicaFetch ReplicaFetchConfig
}

// Listener is one entry of listeners: NAME://host:port.
type Listener struct {
	Name string
	Host string
	Port int32
}

// defaultNet is DefaultConfig's transport: epoll where netpoll works
// (Linux), which in the harness was ahead of std at fetch, level at
// produce and held an idle connection in a small fraction of std's memory
// (results/2026-11-25-2core-x86_64-transports/), and std elsewhere. The
// package's tests set it from RUNNEL_TEST_NET (transport_test.go) so that
// every test broker runs on it.
var defaultNet = func() string {
	if netpoll.Supported {
		return NetEpoll
	}
	return NetStd
}()

// defaultFlushMaxDelay is runnel.flush.max.delay.ms's default: at 1,000 partitions and
// 10,000 produces a second, 50 partitions ask within it; short beside a consumer's fetch wait.
const defaultFlushMaxDelay = 5 * time.Millisecond

// DefaultConfig is Kafka's defaults where they apply, listening on
// localhost:9092 with data in ./data.
func DefaultConfig() Config {
	return Config{
		NodeID:                   1,
		ListenAddr:               "localhost:9092",
		AdvertisedHost:           "localhost",
		AdvertisedPort:           9092,
		LogDirs:                  []string{"./data"},
		NumPartitions:            1,
		MaxPartitions:            10000,
		DefaultReplicationFactor: 1,
		AutoCreateTopics:         true,
		SocketRequestMaxBytes:    100 << 20,
		ConnectionsMaxIdle:       10 * time.Minute,
		RetentionCheckInterval:   5 * time.Minute,
		CleanerEnable:            true,
		Cleaner:                  segment.DefaultCleanerConfig(),
		CheckpointInterval:       time.Minute,
		ShutdownTimeout:          10 * time.Second,
		FetchMaxWait:             defaultFetchMaxWait,
		Net:                      defaultNet,
		AdminListener:            "127.0.0.1:9644",
		FlushPolicy:              flush.Durable,
		FlushSyncFSMinLogs:       64,
		FlushMaxDelay:            defaultFlushMaxDelay,
		ReplicaFsync:             true,
		PreallocateBytes:         64 << 20,
		ProducerIDExpiration:     24 * time.Hour,
		DropBehind:               true,
		CacheKeepBytes:           segment.DefaultCacheKeep,
		TopicDefaults:            map[string]string{},
		Groups:                   defaultGroupConfig(),
		Control:                  defaultControlConfig(),
		// 1,000 partitions, and 32 GiB: 390 partitions at the default
		// 10 MiB indexes and 64 MiB preallocation.
		AutoCreateMaxPartitions:    1000,
		AutoCreateMaxReservedBytes: 32 << 30,
		// Two frames of socket.request.max.bytes (each in a 128 MiB
		// buffer) arriving at once.
		RequestBufferAhead:        256 << 20,
		Listeners:                 []Listener{{"PLAINTEXT", "localhost", 9092}},
		ListenerSecurityProtocols: kafkaSecurityProtocolMap(),
		InterBrokerListenerName:   "PLAINTEXT",
		BrokerSessionTimeout:      9 * time.Second,
		BrokerHeartbeatInterval:   2 * time.Second,
		QuorumElectionTimeout:     time.Second,
		ReplicaLagTimeMax:         defaultReplicaLagTimeMax,
		ReplicaFetch:              defaultReplicaFetch,
		// Fetch sessions: Kafka's defaults.
		FetchSessionCacheSlots:    defaultFetchSessionCacheSlots,
		FetchSessionEvictionAfter: defaultFetchSessionEvictionAfter,
		ReplicationThrottledRate:  [2]int64{math.MaxInt64, math.MaxInt64},
	}
}

// brokerKey is one property the broker understands.
type brokerKey struct {
	name  string
	apply func(c *Config, v string) error
	// get returns the effective value for DescribeConfigs (ok false: not
	// described, such as hour-based synonyms).
	get func(c *Config) (string, bool)
}

// brokerKeys in the order they are applied: where Kafka gives one key
// precedence over another (log.retention.ms over .minutes over .hours),
// the stronger key comes later.
var brokerKeys = []brokerKey{
	{"broker.id", setInt32(func(c *Config) *int32 { return &c.NodeID }, 0), nil},
	{"node.id", setInt32(func(c *Config) *int32 { return &c.NodeID }, 0), func(c *Config) (string, bool) { return itoa(c.NodeID), true }},
	{"listeners", func(c *Config, v string) error {
		ls, err := parseListeners(v)
		if err != nil {
			return err
		}
		c.Listeners = ls
		// The first listener until the cluster settings name the controller's (clusterListeners).
		c.ListenAddr = net.JoinHostPort(ls[0].Host, strconv.Itoa(int(ls[0].Port)))
		c.AdvertisedHost, c.AdvertisedPort = ls[0].Host, ls[0].Port
		return nil
	}, func(c *Config) (string, bool) {
		if len(c.Listeners) > 1 {
			return formatListeners(c.Listeners), true
		}
		return "PLAINTEXT://" + c.ListenAddr, true
	}},
	{"advertised.listeners", func(c *Config, v string) error {
		host, port, err := parseListener(v)
		c.AdvertisedHost, c.AdvertisedPort = host, port
		return err
	}, func(c *Config) (string, bool) {
		return "PLAINTEXT://" + net.JoinHostPort(c.AdvertisedHost, itoa(c.AdvertisedPort)), true
	}},
	{"log.dir", setDirs, nil},
	{"log.dirs", setDirs, func(c *Config) (string, bool) { return strings.Join(c.LogDirs, ","), true }},
	{"num.partitions", setInt32(func(c *Config) *int32 { return &c.NumPartitions }, 1), func(c *Config) (string, bool) { return itoa(c.NumPartitions), true }},
	{"default.replication.factor", func(c *Config, v string) error {
		n, err := parseIntIn(v, 1, math.MaxInt16)
		c.DefaultReplicationFactor = int16(n)
		return err
	}, func(c *Config) (string, bool) { return itoa(c.DefaultReplicationFactor), true }},
	{"auto.create.topics.enable", setBool(func(c *Config) *bool { return &c.AutoCreateTopics }), func(c *Config) (string, bool) { return strconv.FormatBool(c.AutoCreateTopics), true }},
	{"socket.request.max.bytes", setInt32(func(c *Config) *int32 { return &c.SocketRequestMaxBytes }, 1), func(c *Config) (string, bool) { return itoa(c.SocketRequestMaxBytes), true }},
	{"connections.max.idle.ms", setMs(func(c *Config) *time.Duration { return &c.ConnectionsMaxIdle }, 0), func(c *Config) (string, bool) { return ms(c.ConnectionsMaxIdle), true }},
	{"log.retention.check.interval.ms", setMs(func(c *Config) *time.Duration { return &c.RetentionCheckInterval }, 1), func(c *Config) (string, bool) { return ms(c.RetentionCheckInterval), true }},
	{"log.cleaner.enable", setBool(func(c *Config) *bool { return &c.CleanerEnable }), func(c *Config) (string, bool) { return strconv.FormatBool(c.CleanerEnable), true }},
	{"log.cleaner.threads", func(c *Config, v string) error {
		n, err := parseIntIn(v, 1, 64)
		c.Cleaner.Threads = int(n)
		return err
	}, func(c *Config) (string, bool) { return itoa(c.Cleaner.Threads), true }},
	{"log.cleaner.dedupe.buffer.size", func(c *Config, v string) error {
		n, err := parseIntIn(v, 1<<20, math.MaxInt64)
		c.Cleaner.DedupeBufferSize = n
		return err
	}, func(c *Config) (string, bool) { return itoa(c.Cleaner.DedupeBufferSize), true }},
	{"log.cleaner.io.max.bytes.per.second", func(c *Config, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 {
			return fmt.Errorf("want a positive number")
		}
		c.Cleaner.IOMaxBytesPerSecond = f
		return nil
	}, func(c *Config) (string, bool) {
		return strconv.FormatFloat(c.Cleaner.IOMaxBytesPerSecond, 'G', -1, 64), true
	}},
	{"log.cleaner.backoff.ms", setMs(func(c *Config) *time.Duration { return &c.Cleaner.Backoff }, 0), func(c *Config) (string, bool) { return ms(c.Cleaner.Backoff), true }},
	// Topic defaults, through the topic key's own validation.
	topicDefault("log.cleanup.policy", "cleanup.policy", 1),
	topicDefault("log.cleaner.delete.retention.ms", "delete.retention.ms", 1),
	topicDefault("log.cleaner.max.compaction.lag.ms", "max.compaction.lag.ms", 1),
	topicDefault("log.cleaner.min.cleanable.ratio", "min.cleanable.dirty.ratio", 1),
	topicDefault("log.cleaner.min.compaction.lag.ms", "min.compaction.lag.ms", 1),
	topicDefault("log.flush.interval.messages", "flush.messages", 1),
	topicDefault("log.flush.interval.ms", "flush.ms", 1),
	topicDefault("log.index.interval.bytes", "index.interval.bytes", 1),
	topicDefault("message.max.bytes", "max.message.bytes", 1),
	topicDefault("log.message.timestamp.type", "message.timestamp.type", 1),
	topicDefault("log.retention.bytes", "retention.bytes", 1),
	topicDefault("log.retention.hours", "retention.ms", 3600000),
	topicDefault("log.retention.minutes", "retention.ms", 60000),
	topicDefault("log.retention.ms", "retention.ms", 1),
	topicDefault("log.segment.bytes", "segment.bytes", 1),
	topicDefault("log.index.size.max.bytes", "segment.index.bytes", 1),
	topicDefault("log.roll.hours", "segment.ms", 3600000),
	topicDefault("log.roll.ms", "segment.ms", 1),
	// Runnel's own.
	{"runnel.admin.listener", func(c *Config, v string) error {
		v = strings.TrimSpace(v)
		if v != "" {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("want host:port or empty")
			}
		}
		c.AdminListener = v
		return nil
	}, func(c *Config) (string, bool) { return c.AdminListener, true }},
	{"runnel.flush.policy", func(c *Config, v string) error {
		switch strings.TrimSpace(v) {
		case "durable":
			c.FlushPolicy = flush.Durable
		case "interval":
			c.FlushPolicy = flush.Interval
		default:
			return fmt.Errorf("want durable or interval")
		}
		return nil
	}, func(c *Config) (string, bool) { return flushPolicyName(c.FlushPolicy), true }},
	{"runnel.replica.fsync", setBool(func(c *Config) *bool { return &c.ReplicaFsync }), func(c *Config) (string, bool) { return strconv.FormatBool(c.ReplicaFsync), true }},
	{"runnel.flush.min.interval.ms", setMs(func(c *Config) *time.Duration { return &c.FlushMinInterval }, 0), func(c *Config) (string, bool) { return ms(c.FlushMinInterval), true }},
	{"runnel.flush.syncfs.min.logs", setInt32(func(c *Config) *int32 { return &c.FlushSyncFSMinLogs }, 0), func(c *Config) (string, bool) { return strconv.Itoa(int(c.FlushSyncFSMinLogs)), true }},
	{"runnel.flush.max.delay.ms", setMs(func(c *Config) *time.Duration { return &c.FlushMaxDelay }, 0), func(c *Config) (string, bool) { return ms(c.FlushMaxDelay), true }},
	{"producer.id.expiration.ms", setMs(func(c *Config) *time.Duration { return &c.ProducerIDExpiration }, 1), func(c *Config) (string, bool) { return ms(c.ProducerIDExpiration), true }},
	{"runnel.segment.preallocate.bytes", setBytes(func(c *Config) *int64 { return &c.PreallocateBytes }), func(c *Config) (string, bool) { return strconv.FormatInt(c.PreallocateBytes, 10), true }},
	{"runnel.segment.drop.behind", setBool(func(c *Config) *bool { return &c.DropBehind }), func(c *Config) (string, bool) { return strconv.FormatBool(c.DropBehind), true }},
	{"runnel.segment.cache.keep.bytes", setBytes(func(c *Config) *int64 { return &c.CacheKeepBytes }), func(c *Config) (string, bool) { return strconv.FormatInt(c.CacheKeepBytes, 10), true }},
	{"runnel.max.partitions.per.topic", setInt32(func(c *Config) *int32 { return &c.MaxPartitions }, 1), func(c *Config) (string, bool) { return itoa(c.MaxPartitions), true }},
	{"runnel.log.recovery.scan", func(c *Config, v string) error {
		mode, err := segment.ParseScanMode(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("want recovery-point or full")
		}
		c.LogRecoveryScan = mode
		return nil
	}, func(c *Config) (string, bool) { return c.LogRecoveryScan.String(), true }},
	{"runnel.checkpoint.interval.ms", setMs(func(c *Config) *time.Duration { return &c.CheckpointInterval }, 1), func(c *Config) (string, bool) { return ms(c.CheckpointInterval), true }},
	{"runnel.shutdown.timeout.ms", setMs(func(c *Config) *time.Duration { return &c.ShutdownTimeout }, 0), func(c *Config) (string, bool) { return ms(c.ShutdownTimeout), true }},
	{"runnel.auto.create.max.partitions", setInt32(func(c *Config) *int32 { return &c.AutoCreateMaxPartitions }, 0), func(c *Config) (string, bool) { return itoa(c.AutoCreateMaxPartitions), true }},
	{"runnel.auto.create.max.reserved.bytes", func(c *Config, v string) error {
		n, err := parseIntIn(v, 0, math.MaxInt64)
		c.AutoCreateMaxReservedBytes = n
		return err
	}, func(c *Config) (string, bool) { return strconv.FormatInt(c.AutoCreateMaxReservedBytes, 10), true }},
	{"runnel.request.buffer.ahead.bytes", func(c *Config, v string) error {
		n, err := parseIntIn(v, 0, math.MaxInt64)
		c.RequestBufferAhead = n
		return err
	}, func(c *Config) (string, bool) { return strconv.FormatInt(c.RequestBufferAhead, 10), true }},
	{"runnel.fetch.max.wait.ms", setMs(func(c *Config) *time.Duration { return &c.FetchMaxWait }, 1), func(c *Config) (string, bool) { return ms(c.FetchMaxWait), true }},
	// Fetch sessions (fetchsession.go).
	{"max.incremental.fetch.session.cache.slots", setInt32(func(c *Config) *int32 { return &c.FetchSessionCacheSlots }, 0), func(c *Config) (string, bool) { return itoa(c.FetchSessionCacheSlots), true }},
	{"runnel.min.incremental.fetch.session.eviction.ms", setMs(func(c *Config) *time.Duration { return &c.FetchSessionEvictionAfter }, 0), func(c *Config) (string, bool) { return ms(c.FetchSessionEvictionAfter), true }},
	// Replication throttles (replication_throttle.go).
	throttledRate(leaderSide), throttledRate(followerSide),
	{"runnel.net", func(c *Config, v string) error {
		switch v = strings.TrimSpace(v); v {
		case NetStd, NetEpoll:
			c.Net = v
			return nil
		}
		return fmt.Errorf("want %s or %s", NetStd, NetEpoll)
	}, func(c *Config) (string, bool) { return c.Net, true }},
	{"runnel.cluster.id", func(c *Config, v string) error {
		c.ClusterID = strings.TrimSpace(v)
		return nil
	}, func(c *Config) (string, bool) { return c.ClusterID, c.ClusterID != "" }},
	// The cluster's (KRaft) settings, validated together by validateCluster.
	{"process.roles", func(c *Config, v string) error {
		roles := splitList(v)
		seen := map[string]bool{}
		for _, r := range roles {
			if r != "broker" && r != "controller" {
				return fmt.Errorf("want broker, controller or both, not %s", r)
			}
			if seen[r] {
				return fmt.Errorf("duplicate role names found in process.roles")
			}
			seen[r] = true
		}
		c.ProcessRoles = roles
		return nil
	}, func(c *Config) (string, bool) { return strings.Join(c.ProcessRoles, ","), true }},
	{"controller.quorum.voters", func(c *Config, v string) (err error) {
		c.QuorumVoters, err = parseVoters(v)
		return err
	}, func(c *Config) (string, bool) { return formatVoters(c.QuorumVoters), true }},
	{"controller.quorum.bootstrap.servers", func(c *Config, v string) error {
		servers := splitList(v)
		for _, hp := range servers {
			if err := checkHostPort(hp); err != nil {
				return err
			}
		}
		c.QuorumBootstrapServers = servers
		return nil
	}, func(c *Config) (string, bool) { return strings.Join(c.QuorumBootstrapServers, ","), true }},
	{"controller.listener.names", func(c *Config, v string) error {
		names := splitList(v)
		for _, n := range names {
			if !listenerName.MatchString(n) {
				return fmt.Errorf("bad listener name %q", n)
			}
		}
		c.ControllerListenerNames = names
		return nil
	}, func(c *Config) (string, bool) { return strings.Join(c.ControllerListenerNames, ","), true }},
	{"listener.security.protocol.map", func(c *Config, v string) error {
		m := map[string]string{}
		for _, kv := range splitList(v) {
			name, proto, ok := strings.Cut(kv, ":")
			name, proto = strings.TrimSpace(name), strings.ToUpper(strings.TrimSpace(proto))
			if !ok || !listenerName.MatchString(name) {
				return fmt.Errorf("want NAME:PROTOCOL,..., not %q", kv)
			}
			if !slices.Contains(securityProtocols, proto) {
				return fmt.Errorf("unknown security protocol %s (want one of %s)", proto, strings.Join(securityProtocols, ", "))
			}
			if _, dup := m[name]; dup {
				return fmt.Errorf("listener %s is mapped twice", name)
			}
			m[name] = proto
		}
		if len(m) == 0 {
			return fmt.Errorf("want NAME:PROTOCOL,...")
		}
		c.ListenerSecurityProtocols = m
		return nil
	}, func(c *Config) (string, bool) { return formatProtocolMap(c.ListenerSecurityProtocols), true }},
	{"inter.broker.listener.name", func(c *Config, v string) error {
		if v = strings.TrimSpace(v); !listenerName.MatchString(v) {
			return fmt.Errorf("bad listener name")
		}
		c.InterBrokerListenerName = v
		return nil
	}, func(c *Config) (string, bool) { return c.InterBrokerListenerName, true }},
	{"broker.rack", func(c *Config, v string) error {
		c.BrokerRack = strings.TrimSpace(v)
		return nil
	}, func(c *Config) (string, bool) { return c.BrokerRack, true }},
	{"broker.session.timeout.ms", setMs(func(c *Config) *time.Duration { return &c.BrokerSessionTimeout }, 1), func(c *Config) (string, bool) { return ms(c.BrokerSessionTimeout), true }},
	{"broker.heartbeat.interval.ms", setMs(func(c *Config) *time.Duration { return &c.BrokerHeartbeatInterval }, 1), func(c *Config) (string, bool) { return ms(c.BrokerHeartbeatInterval), true }},
	{"controller.quorum.election.timeout.ms", setMs(func(c *Config) *time.Duration { return &c.QuorumElectionTimeout }, 1), func(c *Config) (string, bool) { return ms(c.QuorumElectionTimeout), true }},
	{"metadata.log.dir", func(c *Config, v string) error {
		c.MetadataLogDir = strings.TrimSpace(v)
		return nil
	}, func(c *Config) (string, bool) { return c.MetadataLogDir, true }},
}

// NewConfig builds a Config from properties (server.properties merged with
// --override values). Keys Runnel does not know are returned as warnings;
// a bad value is an error naming the key and the value.
func NewConfig(props map[string]string) (Config, []string, error) {
	c := DefaultConfig()
	known := make(map[string]bool, len(brokerKeys))
	for _, k := range brokerKeys {
		known[k.name] = true
		v, ok := props[k.name]
		if !ok {
			continue
		}
		if err := k.apply(&c, v); err != nil {
			return Config{}, nil, fmt.Errorf("config: bad value %q for %s: %w", v, k.name, err)
		}
	}
	if b, n := props["broker.id"], props["node.id"]; b != "" && n != "" && strings.TrimSpace(b) != strings.TrimSpace(n) {
		return Config{}, nil, fmt.Errorf("config: broker.id %q and node.id %q differ", b, n)
	}
	_, hasNode := props["node.id"]
	if _, hasBroker := props["broker.id"]; len(c.ProcessRoles) > 0 && !hasNode && !hasBroker {
		return Config{}, nil, fmt.Errorf("config: missing node.id, which is required when process.roles is defined")
	}
	if _, set := props["advertised.listeners"]; !set {
		c.clusterListeners()
	}
	if err := c.validateCluster(); err != nil {
		return Config{}, nil, err
	}
	var warnings []string
	if c.BrokerHeartbeatInterval*2 > c.BrokerSessionTimeout {
		warnings = append(warnings, fmt.Sprintf("broker.heartbeat.interval.ms (%s) should be at most half of broker.session.timeout.ms (%s): a broker may lose its session between two heartbeats",
			ms(c.BrokerHeartbeatInterval), ms(c.BrokerSessionTimeout)))
	}
	for k := range props {
		if !known[k] {
			warnings = append(warnings, fmt.Sprintf("unknown config key %q ignored", k))
		}
	}
	sort.Strings(warnings)
	return c, warnings, nil
}

// Validate checks a Config built in code (NewConfig's result passes).
func (c *Config) Validate() error {
	if len(c.LogDirs) == 0 {
		return fmt.Errorf("config: no log.dirs")
	}
	if c.SocketRequestMaxBytes <= 0 {
		return fmt.Errorf("config: socket.request.max.bytes must be positive")
	}
	if c.NumPartitions < 1 || c.NumPartitions > c.MaxPartitions {
		return fmt.Errorf("config: num.partitions must be 1..%d (runnel.max.partitions.per.topic)", c.MaxPartitions)
	}
	if c.FetchMaxWait <= 0 {
		return fmt.Errorf("config: runnel.fetch.max.wait.ms must be positive")
	}
	for k, v := range c.TopicDefaults {
		if err := checkTopicConfig(k, v); err != nil {
			return fmt.Errorf("config: topic default: %w", err)
		}
	}
	return c.validateCluster()
}

// describe returns the broker properties for DescribeConfigs, sorted.
func (c *Config) describe() [][2]string {
	var out [][2]string
	for _, k := range brokerKeys {
		if k.get == nil {
			continue
		}
		if v, ok := k.get(c); ok {
			out = append(out, [2]string{k.name, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

func topicDefault(key, topicKey string, scale int64) brokerKey {
	def, _ := topicConfigDefFor(topicKey)
	return brokerKey{key, func(c *Config, v string) error {
		v = strings.TrimSpace(v)
		if scale != 1 {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("want an integer")
			}
			if n > 0 && n > math.MaxInt64/scale {
				return fmt.Errorf("too large")
			}
			if n >= 0 {
				n *= scale
			}
			v = strconv.FormatInt(n, 10)
		}
		if err := def.check(v); err != nil {
			return err
		}
		c.TopicDefaults[topicKey] = v
		return nil
	}, func(c *Config) (string, bool) {
		if scale != 1 {
			return "", false
		}
		if v, ok := c.TopicDefaults[topicKey]; ok {
			return v, true
		}
		return def.kafkaDflt, true
	}}
}

func setInt32(field func(*Config) *int32, lo int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := parseIntIn(v, lo, math.MaxInt32)
		*field(c) = int32(n)
		return err
	}
}

// setBytes sets a count of bytes, 0 or more.
func setBytes(field func(*Config) *int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := parseIntIn(v, 0, math.MaxInt64)
		*field(c) = n
		return err
	}
}

func setBool(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		*field(c) = b
		return nil
	}
}

func setMs(field func(*Config) *time.Duration, lo int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := parseIntIn(v, lo, math.MaxInt64)
		*field(c) = msDuration(n)
		return err
	}
}

func setDirs(c *Config, v string) error {
	var dirs []string
	for _, d := range strings.Split(v, ",") {
		if d = strings.TrimSpace(d); d != "" {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		return fmt.Errorf("want a comma-separated list of directories")
	}
	c.LogDirs = dirs
	return nil
}

func parseIntIn(v string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want an integer")
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("want %d..%d", lo, hi)
	}
	return n, nil
}

// parseListener parses a one-listener list (advertised.listeners): Runnel
// serves one PLAINTEXT listener to clients. "PLAINTEXT://host:port" or
// "host:port"; an empty host means every interface.
func parseListener(v string) (host string, port int32, err error) {
	ls, err := parseListeners(v)
	if err != nil {
		return "", 0, err
	}
	if len(ls) > 1 {
		return "", 0, fmt.Errorf("runnel serves one listener")
	}
	if ls[0].Name != "PLAINTEXT" {
		return "", 0, fmt.Errorf("only PLAINTEXT is supported, not %s", ls[0].Name)
	}
	return ls[0].Host, ls[0].Port, nil
}

// advertisedHost is the host name Metadata gives clients.
func (c *Config) advertisedHost() string {
	if c.AdvertisedHost != "" && c.AdvertisedHost != "0.0.0.0" && c.AdvertisedHost != "::" {
		return c.AdvertisedHost
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "localhost"
}

func flushPolicyName(p flush.Policy) string {
	if p == flush.Interval {
		return "interval"
	}
	return "durable"
}

func itoa[T int16 | int32 | int | int64](n T) string { return strconv.FormatInt(int64(n), 10) }

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// LoadConfig builds a Config from a properties file (path may be empty)
// and "key=value" overrides applied on top, as Kafka's
// --override key=value does. It returns NewConfig's warnings.
func LoadConfig(path string, overrides []string) (Config, []string, error) {
	props := map[string]string{}
	if path != "" {
		var err error
		if props, err = segment.ReadProperties(path); err != nil {
			return Config{}, nil, fmt.Errorf("config: %w", err)
		}
	}
	for _, o := range overrides {
		k, v, ok := strings.Cut(o, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return Config{}, nil, fmt.Errorf("config: override %q is not key=value", o)
		}
		props[strings.TrimSpace(k)] = v
	}
	return NewConfig(props)
}

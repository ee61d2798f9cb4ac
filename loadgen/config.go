package loadgen

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Config is one load-generator run.
type Config struct {
	// Brokers are the bootstrap servers (host:port).
	Brokers []string `json:"brokers"`
	Topic   string   `json:"topic"`
	// Partitions is the partition count the topic is created with when it
	// does not exist yet (0: the broker's default). An existing topic is
	// used as it is.
	Partitions int `json:"partitions"`

	// Producers and Consumers are how many clients of each kind run; each
	// has its own connection(s) and histograms. Consumers are assigned
	// partitions directly (no group), round robin.
	Producers int `json:"producers"`
	Consumers int `json:"consumers"`

	// RecordSize is the value size in bytes (at least 8: the first 8 bytes
	// carry the intended send time). With RecordSizeMax > RecordSize sizes
	// are uniform in [RecordSize, RecordSizeMax].
	RecordSize    int `json:"record_size"`
	RecordSizeMax int `json:"record_size_max,omitempty"`
	// Keys is the key cardinality (keys "k0".."k<Keys-1>", hash
	// partitioned); 0 sends no key (sticky partitioning).
	Keys int `json:"keys"`
	// Headers is how many small headers each record carries.
	Headers int `json:"headers"`

	Linger      time.Duration `json:"linger_ns"`
	BatchBytes  int           `json:"batch_bytes"` // 0: the client's default
	Acks        string        `json:"acks"`        // all, 1 or 0
	Compression string        `json:"compression"` // none, gzip, snappy, lz4, zstd
	Idempotent  bool          `json:"idempotent"`  // needs acks=all
	// MaxBuffered caps each producer's records awaiting an ack (0: the
	// client's default, 50,000 in franz-go v1.22). It is the window of
	// closed-loop runs; in open-loop runs a full buffer delays sending,
	// which shows as send delay and, because latency counts from the
	// intended send time, as latency.
	MaxBuffered int `json:"max_buffered"`
	// MaxLag, in a closed loop with consumers, makes the producers wait
	// while the records sent and not yet consumed are more than MaxLag:
	// the loop then runs at the rate the whole load sustains, producing
	// and consuming, not at a rate the producers reach by taking the CPU
	// the consumers would need to keep up (0: no bound).
	MaxLag int64 `json:"max_lag,omitempty"`

	// Raw sends pre-encoded record batches over plain connections instead
	// of through franz-go's producer (see raw.go): BatchRecords records of
	// RecordSize bytes in one RecordBatch, built once, a Produce request for
	// one partition each, partitions in turn, InFlight requests pipelined on
	// each of Connections connections to the first bootstrap broker. No
	// client-side batching, compression, keys or headers, and no send time in
	// the values (so no end-to-end latency): it measures what a broker can
	// take, with a generator that costs little CPU per record.
	Raw          bool `json:"raw,omitempty"`
	Connections  int  `json:"connections,omitempty"`   // raw: default Producers
	InFlight     int  `json:"in_flight,omitempty"`     // raw: requests in flight per connection, default 5
	BatchRecords int  `json:"batch_records,omitempty"` // raw: records per batch, default ClientBatchRecords

	// Rate is the target records/s over all producers (open loop); 0 sends
	// as fast as the client accepts (closed loop).
	Rate float64 `json:"rate"`
	// Warmup runs before the measurement starts; it is not counted.
	Warmup time.Duration `json:"warmup_ns"`
	// Duration is how long the measurement runs (0: until Records).
	Duration time.Duration `json:"duration_ns"`
	// Records stops producing after this many records (0: by Duration).
	// A consume-only run (Producers 0) stops after this many records, or
	// when it has read up to the end offsets it found at the start.
	Records int64 `json:"records"`
	// FromStart makes consumers read from the log start offsets (catch-up
	// reads; no end-to-end latency) rather than from the end offsets found
	// before producing starts.
	FromStart bool `json:"from_start"`
	// DrainTimeout bounds how long consumers keep reading after the
	// producers stop, to count the records still in flight (default 10s).
	DrainTimeout time.Duration `json:"drain_timeout_ns"`

	// Progress, when not nil, gets a one-line status each second.
	Progress io.Writer `json:"-"`
	// Logger gets the run's own messages; nil discards them.
	Logger *slog.Logger `json:"-"`
	// ClientOpts are added to every client's options (after ours).
	ClientOpts []kgo.Opt `json:"-"`
}

// DefaultConfig is a one-producer, one-consumer, 1 KiB, acks=all run of
// 30 s after a 5 s warm-up against localhost:9092.
func DefaultConfig() Config {
	return Config{
		Brokers:      []string{"localhost:9092"},
		Topic:        "loadgen",
		Partitions:   8,
		Producers:    1,
		Consumers:    1,
		RecordSize:   1024,
		Linger:       5 * time.Millisecond,
		Acks:         "all",
		Compression:  "none",
		Idempotent:   true,
		Warmup:       5 * time.Second,
		Duration:     30 * time.Second,
		DrainTimeout: 10 * time.Second,
	}
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("loadgen: no bootstrap servers")
	case c.Topic == "":
		return errors.New("loadgen: no topic")
	case c.Producers < 0 || c.Consumers < 0 || c.Producers+c.Consumers == 0:
		return errors.New("loadgen: need at least one producer or consumer")
	case c.Producers > 0 && c.RecordSize < 8:
		return errors.New("loadgen: record size must be at least 8 bytes (the send time is stored in the value)")
	case c.RecordSizeMax != 0 && c.RecordSizeMax < c.RecordSize:
		return errors.New("loadgen: record size max below record size")
	case c.Rate < 0 || c.Keys < 0 || c.Headers < 0 || c.Records < 0 || c.Partitions < 0:
		return errors.New("loadgen: negative rate, keys, headers, records or partitions")
	case c.Duration <= 0 && c.Records == 0 && c.Producers > 0:
		return errors.New("loadgen: need a duration or a record count")
	case c.MaxLag < 0:
		return errors.New("loadgen: negative max lag")
	case c.MaxLag > 0 && (c.Rate > 0 || c.Consumers == 0 || c.Producers == 0 || c.Raw || c.FromStart):
		return errors.New("loadgen: a max lag bounds a closed loop of franz-go producers and consumers reading what they produce (no rate, --raw or --from-start)")
	}
	if c.Raw {
		switch {
		case c.Acks == "0":
			return errors.New("loadgen: raw mode needs acks 1 or all (it counts the answers)")
		case c.Records > 0 || c.Duration <= 0:
			return errors.New("loadgen: raw mode runs for a duration, not a record count")
		case c.Keys > 0 || c.Headers > 0 || c.RecordSizeMax > 0 || (c.Compression != "" && c.Compression != "none"):
			return errors.New("loadgen: raw mode sends one pre-encoded batch: no keys, headers, size range or compression")
		case c.Connections < 0 || c.InFlight < 0 || c.BatchRecords < 0:
			return errors.New("loadgen: negative connections, in-flight requests or batch records")
		}
	}
	if _, err := acksOpt(c.Acks); err != nil {
		return err
	}
	if _, err := codecOpt(c.Compression); err != nil {
		return err
	}
	if c.Idempotent && c.Acks != "all" && c.Acks != "-1" {
		return errors.New("loadgen: an idempotent producer needs acks=all")
	}
	return nil
}

// rawDefaults fills in raw mode's connections, window and batch size.
func (c *Config) rawDefaults() {
	if c.Connections == 0 {
		c.Connections = max(c.Producers, 1)
	}
	if c.InFlight == 0 {
		c.InFlight = 5
	}
	if c.BatchRecords == 0 {
		c.BatchRecords = ClientBatchRecords(c.RecordSize)
	}
}

// ClientBatchBytes is the batch a real producer sends under saturation:
// the cap of librdkafka's (batch.size, default 1,000,000) and of franz-go's
// (ProducerBatchMaxBytes, default 1,000,012). A producer that cannot send as
// fast as it is given records fills its batches up to that cap: at
// Runnel's acks=1 ceiling (1 KiB records, 8 partitions, two processes),
// the broker received batches of 0.73 MB on average from kcat and of
// 0.99 MB from franz-go.
const ClientBatchBytes = 1_000_000

// rawRecordOverhead bounds a raw record's framing beside its value: the
// length, attributes, timestamp and offset deltas, key and value lengths
// and header count, all varints, with no key and no headers.
const rawRecordOverhead = 16

// ClientBatchRecords is how many records of size bytes fill a batch of
// ClientBatchBytes, framing included (the batch's 61-byte header aside).
func ClientBatchRecords(size int) int {
	return max(1, ClientBatchBytes/(size+rawRecordOverhead))
}

func acksOpt(acks string) (kgo.Acks, error) {
	switch acks {
	case "all", "-1":
		return kgo.AllISRAcks(), nil
	case "1":
		return kgo.LeaderAck(), nil
	case "0":
		return kgo.NoAck(), nil
	}
	return kgo.Acks{}, fmt.Errorf("loadgen: acks %q: want all, 1 or 0", acks)
}

func codecOpt(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("loadgen: compression %q: want none, gzip, snappy, lz4 or zstd", name)
}

// producerOpts are the client options of one producer.
func (c *Config) producerOpts() []kgo.Opt {
	acks, _ := acksOpt(c.Acks)
	codec, _ := codecOpt(c.Compression)
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.DefaultProduceTopic(c.Topic),
		kgo.RequiredAcks(acks),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(c.Linger),
	}
	if !c.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if c.BatchBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(int32(c.BatchBytes)))
	}
	if c.MaxBuffered > 0 {
		opts = append(opts, kgo.MaxBufferedRecords(c.MaxBuffered))
	}
	return opts
}

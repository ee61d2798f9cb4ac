package clustertest

// A small Jepsen: a workload of idempotent acks=all producers that records
// what the clients saw acknowledged (Workload, History), a check of that
// history against what consumers read back (ReadPartition, CheckHistory),
// and a comparison of the replicas' logs on disk (replicas.go). STYLE.md
// 20: test a cluster by its history, not by its logs.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Ack is a record the cluster acknowledged: producer, sequence (its value
// names both, Value), and the partition and offset the produce response
// gave it.
type Ack struct {
	Producer  int
	Seq       int64
	Partition int32
	Offset    int64
	At        time.Time
}

// Value is the record value of producer's record seq: "p<producer>-s<seq>".
func Value(producer int, seq int64) string { return fmt.Sprintf("p%d-s%d", producer, seq) }

// parseValue is Value's inverse.
func parseValue(v string) (producer int, seq int64, ok bool) {
	n, err := fmt.Sscanf(v, "p%d-s%d", &producer, &seq)
	return producer, seq, err == nil && n == 2 && Value(producer, seq) == v
}

// WorkloadOptions configure StartWorkload.
type WorkloadOptions struct {
	Topic string
	// Partitions: producer k's record s goes to partition s mod
	// Partitions (0 means 1).
	Partitions int32
	// Producers is the number of clients, each an idempotent producer
	// (0 means 2).
	Producers int
	// Interval paces each producer: one record per Interval (0: 2 ms),
	// so that a test on a loaded machine has load, not a flood.
	Interval time.Duration
	// MaxInFlight bounds each producer's records not yet answered (0: 50).
	MaxInFlight int
	// Opts are more client options, after the workload's own (acks=all,
	// idempotence, the topic, a manual partitioner, a delivery timeout of
	// a minute so that Stop ends on a cluster that no longer answers).
	Opts []kgo.Opt
}

// Workload is producers running until Stop. Each record is produced once
// by the workload; the client retries it (idempotently) until it is
// acknowledged or fails.
type Workload struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	acked    []Ack
	failures []error // one per failed record, in the order they failed
	// log is the producers' own log lines: what the clients saw of
	// leaders and metadata, printed when a test fails.
	log ClientLog
}

// clientLogLines bounds a ClientLog.
const clientLogLines = 400

// ClientLog keeps the last few hundred log lines (info and up) of kgo
// clients, for a test to print when it fails. The zero value is ready.
type ClientLog struct {
	mu    sync.Mutex
	lines []string
}

// Logger is kgo's logger of the client named name, writing to l.
func (l *ClientLog) Logger(name string) kgo.Logger { return clientLogger{l, name} }

// Lines is the latest lines, oldest first.
func (l *ClientLog) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// clientLogger is one client's kgo.Logger.
type clientLogger struct {
	l    *ClientLog
	name string
}

func (c clientLogger) Level() kgo.LogLevel { return kgo.LogLevelInfo }

func (c clientLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	line := fmt.Sprintf("%s %s %s: %s %v", time.Now().UTC().Format("15:04:05.000"), c.name, level, msg, keyvals)
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	if len(c.l.lines) == clientLogLines {
		c.l.lines = slices.Delete(c.l.lines, 0, clientLogLines/4)
	}
	c.l.lines = append(c.l.lines, line)
}

// ClientLog is the producers' latest log lines (kgo's, info and up).
func (w *Workload) ClientLog() []string { return w.log.Lines() }

// StartWorkload starts o.Producers producers against the cluster.
func (c *Cluster) StartWorkload(o WorkloadOptions) (*Workload, error) {
	if o.Partitions == 0 {
		o.Partitions = 1
	}
	if o.Producers == 0 {
		o.Producers = 2
	}
	if o.Interval == 0 {
		o.Interval = 2 * time.Millisecond
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = 50
	}
	w := &Workload{stop: make(chan struct{})}
	var clients []*kgo.Client
	for k := range o.Producers {
		opts := append([]kgo.Opt{
			kgo.WithLogger(w.log.Logger(fmt.Sprintf("producer %d", k))),
			kgo.SeedBrokers(c.Bootstrap()...),
			kgo.DefaultProduceTopic(o.Topic),
			kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.MaxBufferedRecords(o.MaxInFlight),
			kgo.ProducerLinger(0),
			kgo.RecordDeliveryTimeout(time.Minute),
		}, o.Opts...)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			for _, cl := range clients {
				cl.Close()
			}
			return nil, fmt.Errorf("clustertest: %w", err)
		}
		clients = append(clients, cl)
	}
	for k, cl := range clients {
		w.wg.Add(1)
		go w.produce(k, cl, o)
	}
	if t := c.opts.Test; t != nil {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("clustertest: the workload's clients' last log lines:\n%s", strings.Join(w.ClientLog(), "\n"))
			}
		})
	}
	return w, nil
}

func (w *Workload) produce(producer int, cl *kgo.Client, o WorkloadOptions) {
	defer w.wg.Done()
	defer cl.Close()
	pace := time.NewTicker(o.Interval)
	defer pace.Stop()
	var inFlight sync.WaitGroup
	defer inFlight.Wait()
	for seq := int64(0); ; seq++ {
		select {
		case <-w.stop:
			return
		case <-pace.C:
		}
		r := &kgo.Record{Partition: int32(seq % int64(o.Partitions)), Value: []byte(Value(producer, seq))}
		inFlight.Add(1)
		// Produce blocks while MaxInFlight records wait, which is the
		// back-pressure wanted; context.Background since Stop lets every
		// record finish.
		cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
			defer inFlight.Done()
			w.mu.Lock()
			defer w.mu.Unlock()
			if err != nil {
				w.failures = append(w.failures, fmt.Errorf("producer %d record %d: %w", producer, seq, err))
				return
			}
			w.acked = append(w.acked, Ack{Producer: producer, Seq: seq, Partition: r.Partition, Offset: r.Offset, At: time.Now()})
		})
	}
}

// Stop stops producing, waits for every record sent to be answered and
// returns the acknowledged records and the failures.
func (w *Workload) Stop() (acked []Ack, failures []error) {
	close(w.stop)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.acked), slices.Clone(w.failures)
}

// Acked is how many records were acknowledged so far.
func (w *Workload) Acked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// Failures are the failed records so far.
func (w *Workload) Failures() []error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.failures)
}

// Acks are the records acknowledged so far.
func (w *Workload) Acks() []Ack {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.acked)
}

// FirstAckAfter is when the first record of partition acknowledged after
// t was acknowledged, false when none was yet: the end of a failover.
func (w *Workload) FirstAckAfter(t time.Time, partition int32) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.acked {
		if a.Partition == partition && a.At.After(t) {
			return a.At, true
		}
	}
	return time.Time{}, false
}

// Record is a record a consumer read: its offset and value.
type Record struct {
	Offset int64
	Value  string
}

// ReadPartition reads topic's partition from its start up to its high
// watermark (ListOffsets latest, asked first) with a consumer of the
// cluster.
func (c *Cluster) ReadPartition(ctx context.Context, topic string, partition int32) ([]Record, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().AtStart()}}))
	if err != nil {
		return nil, fmt.Errorf("clustertest: %w", err)
	}
	defer cl.Close()
	end, err := endOffset(ctx, kadm.NewClient(cl), topic, partition)
	if err != nil {
		return nil, err
	}
	var records []Record
	next := int64(0)
	for next < end.Offset {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return records, fmt.Errorf("clustertest: read %s-%d up to %d: at %d: %w", topic, partition, end.Offset, next, err)
		}
		fs.EachError(func(_ string, _ int32, e error) { err = errors.Join(err, e) })
		if err != nil {
			return records, fmt.Errorf("clustertest: read %s-%d: %w", topic, partition, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			records = append(records, Record{Offset: r.Offset, Value: string(r.Value)})
			next = r.Offset + 1
		})
	}
	return records, nil
}

// CheckHistory checks acknowledged records against the partitions' logs
// as consumers read them (partition to records in offset order) and
// returns every violation found, nil when there is none:
//
//   - lost: an acknowledged record is not at its offset (nothing there,
//     or another record);
//   - duplicate: a record's value is at two offsets;
//   - reordered: a producer's records in a partition are not in the order
//     it sent them;
//   - unknown: a value no producer of the workload sent.
//
// A record in a log that was not acknowledged is no violation: its
// produce may have failed after the append.
func CheckHistory(acked []Ack, logs map[int32][]Record) []string {
	var violations []string
	report := func(format string, args ...any) { violations = append(violations, fmt.Sprintf(format, args...)) }
	partitions := make([]int32, 0, len(logs))
	for p := range logs {
		partitions = append(partitions, p)
	}
	slices.Sort(partitions)
	at := map[int32]map[int64]string{}
	for _, p := range partitions {
		at[p] = map[int64]string{}
		seen := map[string]int64{}
		lastSeq := map[int]struct {
			seq    int64
			offset int64
		}{}
		for _, r := range logs[p] {
			at[p][r.Offset] = r.Value
			if first, dup := seen[r.Value]; dup {
				report("duplicate: %s at offsets %d and %d of partition %d", r.Value, first, r.Offset, p)
				continue
			}
			seen[r.Value] = r.Offset
			producer, seq, ok := parseValue(r.Value)
			if !ok {
				report("unknown: %q at offset %d of partition %d", r.Value, r.Offset, p)
				continue
			}
			if last, ok := lastSeq[producer]; ok && seq < last.seq {
				report("reordered: producer %d's record %d at offset %d of partition %d, after its record %d at offset %d", producer, seq, r.Offset, p, last.seq, last.offset)
			}
			lastSeq[producer] = struct{ seq, offset int64 }{seq, r.Offset}
		}
	}
	sorted := slices.Clone(acked)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Partition != sorted[j].Partition {
			return sorted[i].Partition < sorted[j].Partition
		}
		return sorted[i].Offset < sorted[j].Offset
	})
	for _, a := range sorted {
		want := Value(a.Producer, a.Seq)
		got, ok := at[a.Partition][a.Offset]
		switch {
		case !ok:
			report("lost: %s, acknowledged at offset %d of partition %d, which holds no record", want, a.Offset, a.Partition)
		case got != want:
			report("lost: %s, acknowledged at offset %d of partition %d, which holds %s", want, a.Offset, a.Partition, got)
		}
	}
	return violations
}

// VerifyHistory reads partitions 0 to partitions-1 of topic
// (ReadPartition) and checks acked against them (CheckHistory).
func (c *Cluster) VerifyHistory(ctx context.Context, topic string, partitions int32, acked []Ack) ([]string, error) {
	logs := map[int32][]Record{}
	for p := range partitions {
		records, err := c.ReadPartition(ctx, topic, p)
		if err != nil {
			return nil, err
		}
		logs[p] = records
	}
	return CheckHistory(acked, logs), nil
}

// endOffset asks ListOffsets for partition's high watermark, again while the
// answer is a retriable error, as clients retry it: a leader elected a moment
// ago answers OFFSET_NOT_AVAILABLE until its high watermark reaches the start
// of its epoch.
func endOffset(ctx context.Context, adm *kadm.Client, topic string, partition int32) (kadm.ListedOffset, error) {
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return kadm.ListedOffset{}, fmt.Errorf("clustertest: end offsets of %s: %w", topic, err)
		}
		end, ok := ends.Lookup(topic, partition)
		if ok && end.Err == nil {
			return end, nil
		}
		if !ok || !kerr.IsRetriable(end.Err) {
			return end, fmt.Errorf("clustertest: end offset of %s-%d: %v", topic, partition, end.Err)
		}
		select {
		case <-ctx.Done():
			return end, fmt.Errorf("clustertest: end offset of %s-%d: %v (%w)", topic, partition, end.Err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sys/unix"
)

// maxNotedErrors bounds the distinct error messages a result keeps.
const maxNotedErrors = 10

// topicReadyTimeout bounds the wait for a topic's partitions to answer.
const topicReadyTimeout = time.Minute

// run is the state of one Run.
type run struct {
	cfg     Config
	log     *slog.Logger
	payload []byte // value bytes after the 8-byte send time
	keys    [][]byte
	headers []kgo.RecordHeader

	producers []*producer
	raws      []*rawConn       // raw mode's connections, instead of producers
	stats     []*producerStats // of every producer or raw connection
	consumers []*consumer
	budget    atomic.Int64 // records left to send when cfg.Records > 0

	requestErrors, clientWarnings atomic.Int64
	errMu                         sync.Mutex
	errs                          map[string]int
	errOrder                      []string
}

// Run creates the topic if needed, runs the producers and consumers of
// cfg, and returns what they measured. Producers stop after the warm-up
// plus Duration (or after Records); consumers then read on until they have
// seen every acked record or DrainTimeout passes. Cancelling ctx ends the
// run early with what was measured so far.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	if cfg.Raw {
		cfg.rawDefaults()
	}
	r := &run{cfg: cfg, log: cfg.Logger, errs: map[string]int{}}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r.budget.Store(cfg.Records)
	r.makeContent()

	admin, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, cfg.ClientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	defer admin.Close()
	starts, ends, err := r.prepareTopic(ctx, kadm.NewClient(admin))
	if err != nil {
		return nil, err
	}
	if err := r.startClients(ctx, admin, starts, ends); err != nil {
		r.closeClients()
		return nil, err
	}
	res := r.measure(ctx, ends)
	return res, nil
}

// PrepareTopic creates cfg's topic if it is missing and waits until every
// partition answers, as Run does first: a harness that starts several
// generators on one topic calls it once before them.
func PrepareTopic(ctx context.Context, cfg Config) error {
	r := &run{cfg: cfg, errs: map[string]int{}}
	admin, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	defer admin.Close()
	_, _, err = r.prepareTopic(ctx, kadm.NewClient(admin))
	return err
}

// makeContent builds the payload, keys and headers every record shares.
// The payload draws from 16 letters, so it compresses about 2:1 (random
// bytes would make compression pointless, zeros would flatter it).
func (r *run) makeContent() {
	rng := rand.New(rand.NewPCG(1, 2))
	size := max(r.cfg.RecordSize, r.cfg.RecordSizeMax)
	if size > 8 {
		r.payload = make([]byte, size-8)
		for i := range r.payload {
			r.payload[i] = 'a' + byte(rng.IntN(16))
		}
	}
	for i := range r.cfg.Keys {
		r.keys = append(r.keys, []byte(fmt.Sprintf("k%d", i)))
	}
	for i := range r.cfg.Headers {
		r.headers = append(r.headers, kgo.RecordHeader{Key: fmt.Sprintf("h%d", i), Value: []byte("loadgen")})
	}
}

// prepareTopic creates the topic if it is missing and waits until every
// partition answers ListOffsets, returning the start and end offsets.
func (r *run) prepareTopic(ctx context.Context, adm *kadm.Client) (starts, ends kadm.ListedOffsets, err error) {
	partitions := int32(r.cfg.Partitions)
	if partitions == 0 {
		partitions = -1
	}
	// A broker slow to create many partitions may time the request out
	// and still create the topic: wait for it either way.
	_, createErr := adm.CreateTopic(ctx, partitions, 1, nil, r.cfg.Topic)
	if createErr != nil && !errors.Is(createErr, kerr.TopicAlreadyExists) {
		r.noteError(fmt.Sprintf("create topic %s: %v", r.cfg.Topic, createErr))
	}
	want := max(int(partitions), 1) // every partition of a topic made now
	if errors.Is(createErr, kerr.TopicAlreadyExists) {
		want = 1 // an existing topic is used as it is
	}
	deadline := time.Now().Add(topicReadyTimeout)
	for {
		ends, err = adm.ListEndOffsets(ctx, r.cfg.Topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil && len(ends[r.cfg.Topic]) >= want {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, nil, fmt.Errorf("loadgen: topic %s not ready after %s: %v (create: %v)", r.cfg.Topic, topicReadyTimeout, err, createErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	starts, err = adm.ListStartOffsets(ctx, r.cfg.Topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("loadgen: start offsets of %s: %w", r.cfg.Topic, err)
	}
	return starts, ends, nil
}

// startClients makes the consumers (assigned partitions round robin, from
// the start or end offsets just listed, so none misses a record produced
// after this) and the producers.
func (r *run) startClients(ctx context.Context, admin *kgo.Client, starts, ends kadm.ListedOffsets) error {
	from := ends
	if r.cfg.FromStart {
		from = starts
	}
	var partitions []int32
	for p := range from[r.cfg.Topic] {
		partitions = append(partitions, p)
	}
	sort.Slice(partitions, func(i, j int) bool { return partitions[i] < partitions[j] })
	consumers := min(r.cfg.Consumers, len(partitions))
	for i := range consumers {
		assign := map[int32]kgo.Offset{}
		for j := i; j < len(partitions); j += consumers {
			p := partitions[j]
			assign[p] = kgo.NewOffset().At(from[r.cfg.Topic][p].Offset)
		}
		cl, err := r.newClient(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.cfg.Topic: assign}))
		if err != nil {
			return err
		}
		r.consumers = append(r.consumers, &consumer{run: r, client: cl, e2e: newRecorder()})
	}
	if r.cfg.Raw && r.cfg.Producers > 0 {
		for i := range r.cfg.Connections {
			c, err := r.newRawConn(ctx, admin, rawPartitions(partitions, i, r.cfg.Connections))
			if err != nil {
				return err
			}
			r.raws, r.stats = append(r.raws, c), append(r.stats, &c.producerStats)
		}
		return nil
	}
	for i := range r.cfg.Producers {
		cl, err := r.newClient(r.cfg.producerOpts()...)
		if err != nil {
			return err
		}
		p := &producer{run: r, client: cl, producerStats: newProducerStats(), rng: rand.New(rand.NewPCG(uint64(i), 7))}
		r.producers, r.stats = append(r.producers, p), append(r.stats, &p.producerStats)
	}
	return nil
}

// rawPartitions are the partitions raw connection i of n sends to: every
// n-th from i when there are enough to go round, else all of them, each
// connection starting at another.
func rawPartitions(partitions []int32, i, n int) []int32 {
	var out []int32
	if len(partitions) >= n {
		for j := i; j < len(partitions); j += n {
			out = append(out, partitions[j])
		}
		return out
	}
	for j := range partitions {
		out = append(out, partitions[(i+j)%len(partitions)])
	}
	return out
}

func (r *run) newClient(opts ...kgo.Opt) (*kgo.Client, error) {
	all := append([]kgo.Opt{
		kgo.SeedBrokers(r.cfg.Brokers...),
		kgo.WithHooks(clientHooks{r}),
		kgo.WithLogger(clientLogger{r}),
	}, opts...)
	cl, err := kgo.NewClient(append(all, r.cfg.ClientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	return cl, nil
}

func (r *run) closeClients() {
	for _, p := range r.producers {
		p.client.Close()
	}
	for _, c := range r.raws {
		c.conn.Close()
	}
	for _, c := range r.consumers {
		c.client.Close()
	}
}

// closeClientsWithin closes every client (and waits for the consumers'
// poll loops) but gives up after limit: a broker that never answers must
// not hold the run hostage. Clients left behind are abandoned.
func (r *run) closeClientsWithin(limit time.Duration, consumers *sync.WaitGroup) {
	closed := make(chan struct{})
	go func() {
		r.closeClients()
		consumers.Wait()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(limit):
		r.noteError(fmt.Sprintf("close: clients still waiting on the broker %s after the drain; abandoned", limit))
	}
}

// takeRecord spends one record of the budget (always true without one).
func (r *run) takeRecord() bool {
	return r.cfg.Records == 0 || r.budget.Add(-1) >= 0
}

// lagCheckEvery is how many records a closed-loop producer sends between
// looks at the consumers' lag (waitForConsumers).
const lagCheckEvery = 64

// waitForConsumers, with a MaxLag, waits while more than MaxLag records
// sent (and not failed) are not yet consumed; false if stop was set
// meanwhile.
func (r *run) waitForConsumers(stop *atomic.Bool) bool {
	if r.cfg.MaxLag <= 0 {
		return true
	}
	for !stop.Load() {
		var sent, consumed int64
		for _, p := range r.producers {
			sent += p.sent.Load() - p.errors.Load() // a failed record is never consumed
		}
		for _, c := range r.consumers {
			consumed += c.records.Load()
		}
		if sent-consumed <= r.cfg.MaxLag {
			return true
		}
		time.Sleep(200 * time.Microsecond)
	}
	return false
}

// noteError keeps the first distinct messages and counts repeats.
func (r *run) noteError(msg string) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if _, ok := r.errs[msg]; !ok {
		if len(r.errOrder) >= maxNotedErrors {
			return
		}
		r.errOrder = append(r.errOrder, msg)
	}
	r.errs[msg]++
}

func (r *run) notedErrors() []string {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	out := make([]string, 0, len(r.errOrder))
	for _, m := range r.errOrder {
		out = append(out, fmt.Sprintf("%s (x%d)", m, r.errs[m]))
	}
	return out
}

func retryNotice(msg string) bool {
	m := strings.ToLower(msg)
	for _, w := range []string{"retr", "fail", "error", "requeue", "unable"} {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}

func formatKeyvals(kv []any) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "%v=%v ", kv[i], kv[i+1])
	}
	return strings.TrimSpace(b.String())
}

// counts is a snapshot of every worker's counters.
type counts struct {
	sent, acked, produceErrors, producedBytes int64
	consumed, consumedBytes, fetchErrors      int64
}

func (r *run) snapshot() counts {
	var c counts
	for _, p := range r.stats {
		c.sent += p.sent.Load()
		c.acked += p.acked.Load()
		c.produceErrors += p.errors.Load()
		c.producedBytes += p.bytes.Load()
	}
	for _, k := range r.consumers {
		c.consumed += k.records.Load()
		c.consumedBytes += k.bytes.Load()
		c.fetchErrors += k.errors.Load()
	}
	return c
}

// window collects ticks: each tick drains every worker's histograms into
// the interval histograms, and the latencies of the records intended in the
// measured window into the totals (recorder). A run stopped during its
// warm-up (whole) has no window: its totals are what completed from the
// stop on.
type window struct {
	whole                   bool
	r                       *run
	tickProduce, tickSend   *hdrhistogram.Histogram
	tickE2E                 *hdrhistogram.Histogram
	totalProduce, totalSend *hdrhistogram.Histogram
	totalE2E                *hdrhistogram.Histogram
	last                    counts
	lastAt                  time.Time
	measured                counts // sum of deltas of measured ticks
	start                   time.Time
	ticks                   []Tick
}

// collect closes the interval ending now.
func (w *window) collect(now time.Time, measuring bool) Tick {
	for _, h := range []*hdrhistogram.Histogram{w.tickProduce, w.tickSend, w.tickE2E} {
		h.Reset()
	}
	total := func(h *hdrhistogram.Histogram) *hdrhistogram.Histogram {
		if w.whole {
			return nil // merged from the ticks below
		}
		return h
	}
	for _, p := range w.r.stats {
		p.latency.drainInto(w.tickProduce, total(w.totalProduce))
		p.sendDelay.drainInto(w.tickSend, total(w.totalSend))
	}
	for _, c := range w.r.consumers {
		c.e2e.drainInto(w.tickE2E, total(w.totalE2E))
	}
	cur := w.r.snapshot()
	d := counts{
		acked: cur.acked - w.last.acked, producedBytes: cur.producedBytes - w.last.producedBytes,
		consumed: cur.consumed - w.last.consumed, consumedBytes: cur.consumedBytes - w.last.consumedBytes,
	}
	secs := now.Sub(w.lastAt).Seconds()
	w.last, w.lastAt = cur, now
	if measuring && w.whole {
		w.totalProduce.Merge(w.tickProduce)
		w.totalSend.Merge(w.tickSend)
		w.totalE2E.Merge(w.tickE2E)
	}
	if measuring {
		w.measured.acked += d.acked
		w.measured.producedBytes += d.producedBytes
		w.measured.consumed += d.consumed
		w.measured.consumedBytes += d.consumedBytes
	}
	t := Tick{
		Seconds:     now.Sub(w.start).Seconds(),
		Warmup:      !measuring,
		ProduceP99:  float64(w.tickProduce.ValueAtQuantile(99)) / 1000,
		EndToEndP99: float64(w.tickE2E.ValueAtQuantile(99)) / 1000,
	}
	if secs > 0 {
		t.ProducedPerSec, t.ProducedMBPerSec = float64(d.acked)/secs, float64(d.producedBytes)/secs/1e6
		t.ConsumedPerSec, t.ConsumedMBPerSec = float64(d.consumed)/secs, float64(d.consumedBytes)/secs/1e6
	}
	w.ticks = append(w.ticks, t)
	return t
}

// measure runs the clients through warm-up, measurement and drain.
func (r *run) measure(ctx context.Context, ends kadm.ListedOffsets) *Result {
	cfg := &r.cfg
	start := time.Now()
	w := &window{
		r: r, tickProduce: NewHistogram(), tickSend: NewHistogram(), tickE2E: NewHistogram(),
		totalProduce: NewHistogram(), totalSend: NewHistogram(), totalE2E: NewHistogram(),
		start: start, lastAt: start,
	}
	measureStart := start.Add(cfg.Warmup)
	var until time.Time // zero: no time limit
	if cfg.Duration > 0 {
		until = measureStart.Add(cfg.Duration)
	}
	// A consume-only run ends when it has read what was there at the start.
	var target int64 = -1
	if cfg.Producers == 0 {
		target = 0
		for _, o := range ends[cfg.Topic] {
			if o.Offset > 0 {
				target += o.Offset
			}
		}
		if !cfg.FromStart {
			target = -1
		}
		if cfg.Records > 0 && (target < 0 || cfg.Records < target) {
			target = cfg.Records
		}
	}

	for _, p := range r.stats {
		p.latency.windowFrom, p.sendDelay.windowFrom = measureStart.UnixNano(), measureStart.UnixNano()
	}
	for _, c := range r.consumers {
		c.e2e.windowFrom = measureStart.UnixNano()
	}
	pollCtx, stopPolling := context.WithCancel(context.Background())
	var consumersDone sync.WaitGroup
	for _, c := range r.consumers {
		consumersDone.Go(func() { c.poll(pollCtx, !cfg.FromStart && !cfg.Raw) })
	}
	var stopSending atomic.Bool
	var producersDone sync.WaitGroup
	for _, p := range r.producers {
		producersDone.Go(func() { p.send(&stopSending, cfg.Rate/float64(len(r.producers))) })
	}
	for _, c := range r.raws {
		producersDone.Go(func() { c.send(&stopSending, cfg.Rate/float64(len(r.raws))) })
	}
	sendersFinished := make(chan struct{})
	go func() { producersDone.Wait(); close(sendersFinished) }()

	mode := "closed-loop"
	switch {
	case cfg.Producers == 0:
		mode = "consume"
	case cfg.Rate > 0:
		mode = "open-loop"
	}
	progress := newProgress(cfg.Progress, mode, measureStart, until, cfg.Records)
	measuring := cfg.Warmup <= 0
	cpuAtStart, _ := ProcessCPU() // 0 where getrusage fails: then CPUSeconds is 0 too
	nextTick := start.Add(time.Second)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-poll.C:
		}
		now := time.Now()
		if !measuring && !now.Before(measureStart) {
			w.collect(measureStart, false) // the warm-up ends exactly here
			cpuAtStart, _ = ProcessCPU()
			measuring, nextTick = true, measureStart.Add(time.Second)
			continue
		}
		if !until.IsZero() && !now.Before(until) {
			break loop
		}
		if cfg.Producers > 0 && cfg.Records > 0 && r.budget.Load() <= 0 {
			select {
			case <-sendersFinished:
				if c := r.snapshot(); c.acked+c.produceErrors >= c.sent {
					break loop
				}
			default:
			}
		}
		if target >= 0 && r.snapshot().consumed >= target {
			break loop
		}
		if !now.Before(nextTick) {
			progress.line(now, w.collect(now, measuring), r.snapshot())
			nextTick = nextTick.Add(time.Second)
		}
	}
	stopAt := time.Now()
	var cpu time.Duration
	if cpuAtStop, err := ProcessCPU(); err == nil && cpuAtStart > 0 {
		cpu = cpuAtStop - cpuAtStart
	}
	if !until.IsZero() && stopAt.After(until) {
		stopAt = until
	}
	if !measuring { // stopped during the warm-up
		measureStart, w.whole = stopAt, true
	}
	// The window ends when sending stops; acks and receipts still in
	// flight are waited for and their latencies counted.
	stopSending.Store(true)
	<-sendersFinished
	w.collect(stopAt, true)
	windowCounts := w.measured
	r.flushProducers(ctx)
	r.drainConsumers(ctx, target)
	stopPolling()
	r.closeClientsWithin(r.cfg.DrainTimeout, &consumersDone)
	w.collect(time.Now(), true)
	progress.done()

	secs := stopAt.Sub(measureStart).Seconds()
	final := r.snapshot()
	var raw *RawTimings
	for _, c := range r.raws {
		raw = raw.plus(c.timings())
	}
	return &Result{
		Config:         *cfg,
		Mode:           mode,
		Start:          start,
		Seconds:        secs,
		Produced:       throughput(windowCounts.acked, windowCounts.producedBytes, secs),
		Consumed:       throughput(windowCounts.consumed, windowCounts.consumedBytes, secs),
		ProduceLatency: Summarize(w.totalProduce),
		SendDelay:      Summarize(w.totalSend),
		EndToEnd:       Summarize(w.totalE2E),
		Totals: Totals{
			Sent: final.sent, Acked: final.acked, AckedBytes: final.producedBytes, ProduceErrors: final.produceErrors,
			Consumed: final.consumed, ConsumedBytes: final.consumedBytes, FetchErrors: final.fetchErrors,
			RequestErrors: r.requestErrors.Load(), ClientWarnings: r.clientWarnings.Load(),
		},
		CPUSeconds:    cpu.Seconds(),
		Raw:           raw,
		Timeline:      w.ticks,
		Errors:        r.notedErrors(),
		ProduceHist:   w.totalProduce,
		SendDelayHist: w.totalSend,
		EndToEndHist:  w.totalE2E,
	}
}

// ProcessCPU is the calling process's user + system CPU time, all threads.
func ProcessCPU() (time.Duration, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("loadgen: getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// flushProducers waits (up to DrainTimeout) for every buffered record's ack.
func (r *run) flushProducers(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.DrainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range r.producers {
		wg.Go(func() {
			if err := p.client.Flush(ctx); err != nil {
				r.noteError("flush: " + err.Error())
			}
		})
	}
	for _, c := range r.raws {
		wg.Go(func() { c.drain(r.cfg.DrainTimeout) })
	}
	wg.Wait()
}

// drainConsumers waits until the consumers have read every acked record
// (or target records in a consume-only run), up to DrainTimeout.
func (r *run) drainConsumers(ctx context.Context, target int64) {
	if len(r.consumers) == 0 || (r.cfg.FromStart && target < 0) {
		return
	}
	deadline := time.Now().Add(r.cfg.DrainTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		c := r.snapshot()
		want := c.acked
		if target >= 0 {
			want = target
		}
		if c.consumed >= want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.noteError("drain: consumers did not read every acked record within the drain timeout")
}

package broker

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/io/flush"
)

// Observability: Prometheus metrics in the broker's own registry, served
// with pprof and a health check on the admin listener.

type metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec   // api, error
	latency     *prometheus.HistogramVec // api
	bytesIn     prometheus.Counter
	bytesOut    prometheus.Counter
	connections prometheus.Gauge
	fsync       prometheus.Histogram
	fsyncBatch  prometheus.Histogram
	fsyncErrors prometheus.Counter
	// autoCreateRefused counts topics not auto-created past a cap
	// (autocreate.go).
	autoCreateRefused prometheus.Counter
	// malformedRequests counts connections closed on a request that does
	// not decode or is too large (loglimit.go).
	malformedRequests prometheus.Counter
	// isrShrinks and isrExpands count the ISR changes of partitions led
	// here (replication.go).
	isrShrinks prometheus.Counter
	isrExpands prometheus.Counter
	// replicationBytesOut counts the record bytes sent to followers
	// (fetch_replica.go).
	replicationBytesOut prometheus.Counter

	// latencyByKey caches the latency observer of each API key, and
	// requestsByCode the request counter of each (key, error code), which
	// saves a label lookup and its garbage per request.
	latencyByKey   map[int16]prometheus.Observer
	requestsByCode sync.Map // int32(key)<<16 | uint16(code) -> prometheus.Counter

	// produceStages split a produce request's time by stage
	// (produceStageNames), label lookups done once.
	produceStages [numProduceStages]prometheus.Observer
}

// The stages of a produce request, in order, each from the end of the one
// before: queue is from its frame's read (on the epoll transport, the event
// loop's wake-up that read it; on std, the reader's) to its decoding;
// decode the request's decoding; append the handler (validation, appends,
// asking the flusher); syncWait from the handler's return to the reply
// being finished (acks=all under the durable policy: the flusher's sync,
// and for replicated partitions the followers; ~0 otherwise); respond from
// there to the response written to the socket (epoll; on std, to the
// writer's buffer, flushed when no reply waits behind it).
const (
	stageQueue = iota
	stageDecode
	stageAppend
	stageSyncWait
	stageRespond
	numProduceStages
)

// produceStageNames are the stage label's values.
var produceStageNames = [numProduceStages]string{"queue", "decode", "append", "sync_wait", "respond"}

// produceKey is Produce's API key, whose requests are timed by stage.
var produceKey = kmsg.Produce.Int16()

func newMetrics(b *Broker) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runnel_requests_total",
			Help: "Requests answered, by API and the first error code in the response (NONE when none).",
		}, []string{"api", "error"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "runnel_request_duration_seconds",
			Help:    "Time from a request's arrival to its response being ready (for acks=all produce, synced); the same on both transports, and counted before the response is written.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 18), // 50µs .. 6.5s
		}, []string{"api"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "runnel_network_received_bytes_total", Help: "Bytes read from client connections.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "runnel_network_sent_bytes_total", Help: "Bytes written to client connections (sendfile included).",
		}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "runnel_connections", Help: "Open client connections.",
		}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "runnel_fsync_duration_seconds",
			Help:    "Duration of the flushers' syncs of one log.",
			Buckets: prometheus.ExponentialBuckets(20e-6, 2, 18), // 20µs .. 2.6s
		}),
		fsyncBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "runnel_fsync_waiters",
			Help:    "Requests completed by one sync (group commit batch size).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		fsyncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "runnel_fsync_errors_total", Help: "Syncs that failed.",
		}),
		isrShrinks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "runnel_isr_shrinks_total", Help: "ISR shrinks of partitions led by this broker (a follower left the ISR).",
		}),
		isrExpands: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "runnel_isr_expands_total", Help: "ISR expansions of partitions led by this broker (a follower rejoined the ISR).",
		}),
		replicationBytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "runnel_replication_bytes_out_total", Help: "Record bytes sent to followers in answers to their fetches (with sendfile).",
		}),
		latencyByKey: map[int16]prometheus.Observer{},
		autoCreateRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "runnel_auto_create_refused_total", Help: "Topics not auto-created because the broker's partitions or their reserved disk would pass runnel.auto.create.max.partitions or .reserved.bytes.",
		}),
		malformedRequests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "runnel_malformed_requests_total", Help: "Requests that did not decode or exceeded socket.request.max.bytes (each closes its connection).",
		}),
	}
	for key := range apis {
		m.latencyByKey[key] = m.latency.WithLabelValues(kmsg.NameForKey(key))
	}
	stages := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "runnel_produce_stage_seconds",
		Help: "A produce request's time by stage, each from the end of the one before: queue (its frame read, on epoll the event loop's wake-up, to its decoding), " +
			"decode, append (the handler: validation, appends, asking the flusher), sync_wait (to its reply being finished: the fsync under acks=all, " +
			"and followers when replicated), respond (to the response written to the socket; on std, to the writer's buffer).",
		Buckets: prometheus.ExponentialBuckets(5e-6, 2, 20), // 5µs .. 2.6s
	}, []string{"stage"})
	for i, name := range produceStageNames {
		m.produceStages[i] = stages.WithLabelValues(name)
	}
	m.registry.MustRegister(stages)
	m.registry.MustRegister(damagedReadsCounter(b))
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "runnel_log_dirs_offline", Help: "Log dirs offline after a storage failure, until a restart.",
	}, b.offlineDirs), prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "runnel_log_dir_failures_total", Help: "Storage failures (failed write, truncate, rename or sync) that took a log dir offline.",
	}, b.offlineDirs))
	m.registry.MustRegister(m.requests, m.latency, m.bytesIn, m.bytesOut, m.connections,
		m.fsync, m.fsyncBatch, m.fsyncErrors, partitionCollector{b},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registry.MustRegister(logDirCollector{b})
	m.registry.MustRegister(m.autoCreateRefused, m.malformedRequests, m.isrShrinks, m.isrExpands, m.replicationBytesOut)
	m.registry.MustRegister(replicationGauges(b)...)
	m.registry.MustRegister(fetchSessionMetrics(b)...)
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "runnel_replica_max_lag", Help: "The most messages a partition this broker follows is behind its leader's high watermark, as last heard (Kafka's ReplicaFetcherManager MaxLag).",
	}, func() float64 {
		if f := b.repl.fetchers; f != nil {
			return float64(f.Lag())
		}
		return 0
	}))
	m.registry.MustRegister(memoryCollector{})
	return m
}

// fetchSessionMetrics are the fetch session cache's figures, read at scrape
// time (fetchsession.go).
func fetchSessionMetrics(b *Broker) []prometheus.Collector {
	stat := func(pick func(sessions, partitions int, evictions int64) float64) func() float64 {
		return func() float64 { return pick(b.fetchSessions.stats()) }
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "runnel_fetch_sessions", Help: "Open fetch sessions (KIP-227 incremental fetch).",
		}, stat(func(s, _ int, _ int64) float64 { return float64(s) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "runnel_fetch_session_partitions", Help: "Partitions held by the open fetch sessions.",
		}, stat(func(_, p int, _ int64) float64 { return float64(p) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "runnel_fetch_session_evictions_total", Help: "Fetch sessions evicted to make room for a new one (max.incremental.fetch.session.cache.slots).",
		}, stat(func(_, _ int, e int64) float64 { return float64(e) })),
	}
}

// damagedReadsCounter counts, at scrape time, the reads of the log dirs' logs refused because
// the log was damaged (answered CORRUPT_MESSAGE; segment.LogDir.DamageFound). The log dirs are
// opened before the admin listener serves scrapes.
func damagedReadsCounter(b *Broker) prometheus.CounterFunc {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "runnel_log_damaged_reads_total",
		Help: "Reads refused because a segment was damaged where they looked (CORRUPT_MESSAGE); each is logged, rate-limited, with file, position and offset.",
	}, func() float64 {
		var n int64
		for _, d := range b.dirs {
			if d.dir != nil {
				n += d.dir.DamageFound()
			}
		}
		return float64(n)
	})
}

// observeReply records a reply when it is finished, before it is written
// (so a client that has its answer finds it in the metrics), on both
// transports.
func (m *metrics) observeReply(r *reply) {
	now := time.Now()
	if o := m.latencyByKey[r.key]; o != nil {
		o.Observe(now.Sub(r.start).Seconds())
	}
	if st := &r.stages; !st.mark.IsZero() {
		m.produceStages[stageQueue].Observe(st.queue.Seconds())
		m.produceStages[stageDecode].Observe(st.decode.Seconds())
		m.produceStages[stageAppend].Observe(st.append.Seconds())
		m.produceStages[stageSyncWait].Observe(now.Sub(st.mark).Seconds())
		st.mark = now // finished: the start of respond
	}
	code := int16(0)
	switch {
	case r.resp != nil:
		code = firstErrorCode(reflect.ValueOf(r.resp))
	case r.frame != nil:
		if ec, ok := r.frame.(interface{ errorCode() int16 }); ok {
			code = ec.errorCode()
		}
	}
	id := int32(r.key)<<16 | int32(uint16(code))
	counter, ok := m.requestsByCode.Load(id)
	if !ok {
		counter, _ = m.requestsByCode.LoadOrStore(id, m.requests.WithLabelValues(kmsg.NameForKey(r.key), errorName(code)))
	}
	counter.(prometheus.Counter).Inc()
}

// observeWritten records a produce's respond stage once its response is
// written (produceStages); it does nothing for other replies and for
// produces that get no response (acks=0).
func (m *metrics) observeWritten(r *reply) {
	if !r.stages.mark.IsZero() && !r.none {
		m.produceStages[stageRespond].Observe(time.Since(r.stages.mark).Seconds())
	}
}

// produceStageTimes are a produce's stage times, kept small in its reply:
// the first three stages' durations, then mark, the
// end of the last stage timed (the handler's return, then the reply's
// finish).
type produceStageTimes struct {
	queue, decode, append time.Duration
	mark                  time.Time
}

// handled records the stages up to the handler's return, now: the frame
// was read at arrived, decoded from start, handled from decoded.
func (st *produceStageTimes) handled(arrived, start, decoded time.Time) {
	st.mark = time.Now()
	st.queue, st.decode, st.append = start.Sub(arrived), decoded.Sub(start), st.mark.Sub(decoded)
}

// offlineDirs counts the log dirs that failed (they stay offline until a
// restart, so the count only grows).
func (b *Broker) offlineDirs() float64 {
	n := 0
	for _, d := range b.dirs {
		if d.dir.Failed() != nil {
			n++
		}
	}
	return float64(n)
}

// onSync is the flushers' OnSync hook.
func (m *metrics) onSync(_ flush.Target, d time.Duration, waiters int, err error) {
	m.fsync.Observe(d.Seconds())
	m.fsyncBatch.Observe(float64(waiters))
	if err != nil {
		m.fsyncErrors.Inc()
	}
}

func errorName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if e := kerr.TypedErrorForCode(code); e != nil && (e != kerr.UnknownServerError || code == kerr.UnknownServerError.Code) {
		return e.Message
	}
	return strconv.Itoa(int(code))
}

// firstErrorCode returns the first non-zero int16 field named ErrorCode in
// a response, searching nested structs and slices of structs in field
// order; 0 when there is none.
func firstErrorCode(v reflect.Value) int16 {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return 0
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		for _, i := range errorFieldsOf(v.Type()) {
			f := v.Field(i)
			if f.Kind() == reflect.Int16 {
				if c := int16(f.Int()); c != 0 {
					return c
				}
				continue
			}
			if c := firstErrorCode(f); c != 0 {
				return c
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			if c := firstErrorCode(v.Index(i)); c != 0 {
				return c
			}
		}
	}
	return 0
}

// errorFieldsOf lists the fields of a struct type that are an ErrorCode or
// may contain one, computed once per type.
func errorFieldsOf(t reflect.Type) []int {
	if f, ok := errorFieldsCache.Load(t); ok {
		return f.([]int)
	}
	var fields []int
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		switch {
		case f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16:
			fields = append(fields, i)
		case f.Type.Kind() == reflect.Struct && containsErrorCode(f.Type, 0),
			f.Type.Kind() == reflect.Slice && containsErrorCode(f.Type.Elem(), 0):
			fields = append(fields, i)
		}
	}
	errorFieldsCache.Store(t, fields)
	return fields
}

var errorFieldsCache sync.Map // reflect.Type -> []int

func containsErrorCode(t reflect.Type, depth int) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || depth > 8 {
		return false
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16 || containsErrorCode(f.Type, depth+1) {
			return true
		}
	}
	return false
}

// setTopLevelErrorCode sets resp's top-level ErrorCode field, reporting
// whether resp carries it at its version: the field may exist only in
// later versions (Metadata's from v13), so the response is encoded and
// decoded again to see whether the code survives.
func setTopLevelErrorCode(resp kmsg.Response, code int16) bool {
	topLevel := func(r kmsg.Response) reflect.Value {
		v := reflect.ValueOf(r)
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			return reflect.Value{}
		}
		f := v.Elem().FieldByName("ErrorCode")
		if !f.IsValid() || f.Kind() != reflect.Int16 || !f.CanSet() {
			return reflect.Value{}
		}
		return f
	}
	f := topLevel(resp)
	if !f.IsValid() {
		return false
	}
	f.SetInt(int64(code))
	check := kmsg.ResponseForKey(resp.Key())
	check.SetVersion(resp.GetVersion())
	if err := check.ReadFrom(resp.AppendTo(nil)); err != nil {
		return false
	}
	return topLevel(check).Int() == int64(code)
}

// partitionCollector reports per-partition offsets at scrape time.
type partitionCollector struct{ b *Broker }

var (
	descEndOffset = prometheus.NewDesc("runnel_log_end_offset", "Next offset to be written.",
		[]string{"topic", "partition"}, nil)
	descStartOffset = prometheus.NewDesc("runnel_log_start_offset", "First offset still in the log.",
		[]string{"topic", "partition"}, nil)
	descFlushedOffset = prometheus.NewDesc("runnel_log_flushed_offset", "Offset up to which the log is durable.",
		[]string{"topic", "partition"}, nil)
)

func (c partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descEndOffset
	ch <- descStartOffset
	ch <- descFlushedOffset
}

func (c partitionCollector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.b.table.Load().byName {
		for _, p := range t.partitions() {
			idx := strconv.Itoa(int(p.index))
			ch <- prometheus.MustNewConstMetric(descEndOffset, prometheus.GaugeValue, float64(p.log.EndOffset()), p.topic, idx)
			ch <- prometheus.MustNewConstMetric(descStartOffset, prometheus.GaugeValue, float64(p.log.StartOffset()), p.topic, idx)
			ch <- prometheus.MustNewConstMetric(descFlushedOffset, prometheus.GaugeValue, float64(p.log.FlushedOffset()), p.topic, idx)
		}
	}
}

// startAdmin serves /metrics, /debug/pprof/, /v1/metadata and /healthz on the admin
// listener. pprof is registered on this mux explicitly, never on
// http.DefaultServeMux.
func (b *Broker) startAdmin() error {
	ln, err := net.Listen("tcp", b.cfg.AdminListener)
	if err != nil {
		return fmt.Errorf("broker: admin listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(b.metrics.registry, promhttp.HandlerOpts{Registry: b.metrics.registry}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /v1/metadata", b.serveMetadataStatus)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-b.done:
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ok")
		}
	})
	b.adminLn = ln
	b.admin = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := b.admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.logger.Error("admin listener failed", "err", err)
		}
	}()
	b.logger.Info("admin listener", "addr", ln.Addr().String())
	return nil
}

// logDirCollector reports, per log dir, whether it is short of space and how many appends it
// refused for lack of space, at scrape time.
type logDirCollector struct{ b *Broker }

var (
	descShortOfSpace = prometheus.NewDesc("runnel_log_dir_short_of_space",
		"1 while a log dir's file system is short of space: preallocation was refused since a whole chunk was last granted, and appends that do not fit fail with KAFKA_STORAGE_ERROR.",
		[]string{"dir"}, nil)
	descNoSpaceAppends = prometheus.NewDesc("runnel_log_dir_no_space_appends_total",
		"Appends refused with KAFKA_STORAGE_ERROR because the log dir's file system had no space for them.",
		[]string{"dir"}, nil)
)

func (c logDirCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descShortOfSpace
	ch <- descNoSpaceAppends
}

func (c logDirCollector) Collect(ch chan<- prometheus.Metric) {
	for _, d := range c.b.dirs {
		short := 0.0
		if d.dir.ShortOfSpace() {
			short = 1
		}
		ch <- prometheus.MustNewConstMetric(descShortOfSpace, prometheus.GaugeValue, short, d.path)
		ch <- prometheus.MustNewConstMetric(descNoSpaceAppends, prometheus.CounterValue, float64(d.dir.NoSpaceAppends()), d.path)
	}
}

// memoryCollector reports the broker's memory in the parts an operator needs told apart (the Go
// heap is in go_memstats_*): anonymous resident memory, resident pages of mapped files (the
// indexes' mappings, and the binary's: page cache that counts in the process's RSS), and
// the page cache charged to the broker's memory cgroup, which a container's memory limit
// counts. Read at scrape time; a figure the system does not offer is left out.
type memoryCollector struct{}

var (
	rssAnonDesc = prometheus.NewDesc("runnel_process_rss_anon_bytes",
		"Resident anonymous memory of the broker (RssAnon of /proc/self/status): the Go heap, stacks and runtime.", nil, nil)
	rssFileDesc = prometheus.NewDesc("runnel_process_rss_file_bytes",
		"Resident pages of files the broker has mapped (RssFile of /proc/self/status): index mappings and the binary; page cache that counts in the process's RSS.", nil, nil)
	pageCacheDesc = prometheus.NewDesc("runnel_cgroup_page_cache_bytes",
		"Page cache charged to the broker's memory cgroup (memory.stat file, or total_cache on cgroup v1), mapped or not: what a container memory limit counts beside RSS.", nil, nil)
)

func (memoryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- rssAnonDesc
	ch <- rssFileDesc
	ch <- pageCacheDesc
}

func (memoryCollector) Collect(ch chan<- prometheus.Metric) {
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		// "RssAnon:	     152 kB"
		for key, desc := range map[string]*prometheus.Desc{"RssAnon:": rssAnonDesc, "RssFile:": rssFileDesc} {
			if kb, ok := statField(status, key); ok {
				ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(kb<<10))
			}
		}
	}
	if n, ok := cgroupPageCache(); ok {
		ch <- prometheus.MustNewConstMetric(pageCacheDesc, prometheus.GaugeValue, float64(n))
	}
}

// cgroupPageCache returns the page cache bytes of the broker's memory cgroup, found through
// /proc/self/cgroup: memory.stat's file under cgroup v2, total_cache under v1. The path there
// is relative to the hierarchy's mount, which in a container with its own cgroup namespace is
// the container's cgroup ("/").
func cgroupPageCache() (int64, bool) {
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(own)) {
		// "0::/path" (v2) or "4:memory:/path" (v1)
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var stat, key string
		switch {
		case parts[0] == "0" && parts[1] == "":
			stat, key = filepath.Join("/sys/fs/cgroup", parts[2], "memory.stat"), "file"
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			stat, key = filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.stat"), "total_cache"
		default:
			continue
		}
		if text, err := os.ReadFile(stat); err == nil {
			if n, ok := statField(text, key); ok {
				return n, true
			}
		}
	}
	return 0, false
}

// statField returns the number after key at the start of a line of text, in the format of
// /proc/self/status ("RssFile:\t 2028 kB", the unit left to the caller) or memory.stat
// ("file 11366400").
func statField(text []byte, key string) (int64, bool) {
	for line := range strings.Lines(string(text)) {
		rest, ok := strings.CutPrefix(line, key)
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 || (rest[0] != ' ' && rest[0] != '\t') {
			continue // a longer key with this one as prefix
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		return n, err == nil
	}
	return 0, false
}

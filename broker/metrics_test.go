package broker_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker/brokertest"
	"runnel/internal/wait"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// metricValue finds one sample by name and exact label set in a Prometheus
// text exposition.
func metricValue(t *testing.T, text, series string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no sample %s in /metrics", series)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAdminListener(t *testing.T) {
	b := brokertest.Start(t, "runnel.admin.listener=127.0.0.1:0")
	base := "http://" + b.AdminAddr().String()
	adm := b.Admin(t)
	if _, err := adm.CreateTopic(ctx(t), 2, 1, nil, "observed"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx(t), 1, 1, nil, "bad/name"); err == nil {
		t.Fatal("bad name accepted")
	}
	rec := &kgo.Record{Topic: "observed", Partition: 1, Value: []byte("hello")}
	cl := b.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(context.Background(), rec, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}

	code, text := httpGet(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	if v := metricValue(t, text, `runnel_requests_total{api="CreateTopics",error="NONE"}`); v != 1 {
		t.Errorf("CreateTopics NONE: %v", v)
	}
	if v := metricValue(t, text, `runnel_requests_total{api="CreateTopics",error="INVALID_TOPIC_EXCEPTION"}`); v != 1 {
		t.Errorf("CreateTopics INVALID_TOPIC_EXCEPTION: %v", v)
	}
	if v := metricValue(t, text, `runnel_log_end_offset{partition="1",topic="observed"}`); v != 2 {
		t.Errorf("log end offset: %v", v)
	}
	if v := metricValue(t, text, `runnel_request_duration_seconds_count{api="Produce"}`); v < 1 {
		t.Errorf("produce latency count: %v", v)
	}
	if v := metricValue(t, text, `runnel_fsync_duration_seconds_count`); v < 1 {
		t.Errorf("fsync count: %v", v)
	}
	// Each stage of the produce is timed; respond once its response is
	// written, which may come after the client has read it.
	produces := metricValue(t, text, `runnel_request_duration_seconds_count{api="Produce"}`)
	for _, stage := range []string{"queue", "decode", "append", "sync_wait"} {
		if v := metricValue(t, text, `runnel_produce_stage_seconds_count{stage="`+stage+`"}`); v != produces {
			t.Errorf("produce stage %s: %v observations, want one per produce (%v)", stage, v, produces)
		}
	}
	wait.Until(t, 10*time.Second, "the produce's respond stage in /metrics", func() bool {
		_, text := httpGet(t, base+"/metrics")
		return metricValue(t, text, `runnel_produce_stage_seconds_count{stage="respond"}`) == produces
	})
	if v := metricValue(t, text, `runnel_connections`); v < 1 {
		t.Errorf("connections: %v", v)
	}
	if v := metricValue(t, text, `runnel_network_received_bytes_total`); v <= 0 {
		t.Errorf("bytes in: %v", v)
	}
	if !strings.Contains(text, "go_goroutines") {
		t.Error("no Go runtime metrics")
	}
	if code, body := httpGet(t, base+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := httpGet(t, base+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/: %d", code)
	}
	if code, _ := httpGet(t, base+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK {
		t.Errorf("/debug/pprof/goroutine: %d", code)
	}
}

// TestMemoryMetrics checks that /metrics reports the broker's anonymous and file-mapped
// resident memory apart, and the page cache of its memory cgroup where the system has one.
func TestMemoryMetrics(t *testing.T) {
	b := brokertest.Start(t, "runnel.admin.listener=127.0.0.1:0")
	code, text := httpGet(t, "http://"+b.AdminAddr().String()+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, series := range []string{"runnel_process_rss_anon_bytes", "runnel_process_rss_file_bytes"} {
		if v := metricValue(t, text, series); v <= 0 {
			t.Errorf("%s: %v, want > 0", series, v)
		}
	}
	for _, stat := range []string{"/sys/fs/cgroup/memory.stat", "/sys/fs/cgroup/memory"} {
		if _, err := os.Stat(stat); err == nil {
			if v := metricValue(t, text, "runnel_cgroup_page_cache_bytes"); v <= 0 {
				t.Errorf("runnel_cgroup_page_cache_bytes: %v", v)
			}
			break
		}
	}
}

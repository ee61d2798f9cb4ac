package examples_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"runnel/examples/events"
	"runnel/examples/internal/proc"
	"runnel/internal/wait"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// orderCount is how many orders TestOrderFlow places: about 2.3 events each.
const orderCount = 300

// TestOrderFlow runs the order flow end to end as `make demo` does, against
// a real `runnel serve` process: the four services are built and run as
// processes that talk to the broker only over TCP. While the order service
// appends, the query service is killed (SIGKILL) and the notifications
// service stopped (SIGTERM), and both are started again. Then:
//
//   - the read model served over HTTP equals the fold of every event in the
//     orders topic, read back from it, the restarted query service rebuilt
//     from a snapshot (not from the first event), and no query service
//     applied an event twice or out of turn;
//   - each consumer group handled every event exactly once, in partition
//     order: inventory ran throughout, notifications was stopped cleanly
//     in the middle and went on from its committed offsets. (After a crash
//     instead it would be at least once: see events.ConsumeGroup.)
func TestOrderFlow(t *testing.T) {
	bin := buildBinaries(t)
	broker, err := proc.StartBroker(nil, filepath.Join(bin, "runnel"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := broker.Stop(); err != nil {
			t.Errorf("runnel: %v", err)
		}
	})
	httpAddr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	running := []*proc.Process{broker.Process}
	t.Cleanup(func() {
		for _, p := range running[1:] {
			_ = p.Stop()
		}
		if t.Failed() {
			for _, p := range running {
				lines := p.Lines()
				t.Logf("%s's last lines:\n%s", p.Name, strings.Join(lines[max(0, len(lines)-15):], "\n"))
			}
		}
	})
	start := func(name string, args ...string) *proc.Process {
		t.Helper()
		p, err := proc.Start(nil, name, filepath.Join(bin, name), append([]string{"--brokers", broker.Addr, "--json"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		running = append(running, p)
		return p
	}
	queryArgs := []string{"--http", httpAddr, "--snapshot-interval", "50ms"}
	inventory := start("inventory")
	notifications := []*proc.Process{start("notifications")}
	queries := []*proc.Process{start("query", queryArgs...)}
	seed := uint64(time.Now().UnixNano())
	t.Logf("orders --seed %d", seed)
	orders := start("orders", "--count", strconv.Itoa(orderCount), "--seed", strconv.FormatUint(seed, 10), "--interval", "2ms")

	wait.Until(t, 20*time.Second, "a third of the orders' events appended and a snapshot written", func() bool {
		return len(handled(t, orders)) >= orderCount*2/3 && logged(t, queries[0], "wrote a snapshot") > 0
	})
	killedAt := handled(t, orders)
	queries[0].Kill()
	if err := notifications[0].Stop(); err != nil {
		t.Fatalf("notifications: stopping: %v", err)
	}
	select {
	case <-orders.Done():
		t.Fatal("the order service was done before the restarts: they are not in the middle of the flow")
	default:
	}
	queries = append(queries, start("query", queryArgs...))
	notifications = append(notifications, start("notifications"))
	if err := orders.Wait(); err != nil {
		t.Fatalf("orders: %v: %s", err, strings.Join(orders.Lines(), "\n"))
	}

	appended := handled(t, orders)
	records := readTopic(t, broker.Addr)
	if len(records) != len(appended) {
		t.Fatalf("the orders topic holds %d events, the order service appended %d", len(records), len(appended))
	}
	expected := fold(t, records)

	var lastDifference string
	defer func() {
		if t.Failed() && lastDifference != "" {
			t.Logf("the read model's last difference from the events' fold: %s", lastDifference)
		}
	}()
	want, _ := json.Marshal(expected)
	wait.Until(t, 20*time.Second, "the read model to equal the fold of the events", func() bool {
		var got []events.Order
		if err := getJSON("http://"+httpAddr+"/orders", http.StatusOK, &got); err != nil {
			lastDifference = err.Error()
			return false
		}
		gotJSON, _ := json.Marshal(got)
		lastDifference = difference(expected, got)
		return string(gotJSON) == string(want)
	})
	var one events.Order
	if err := getJSON("http://"+httpAddr+"/orders/"+expected[7].ID, http.StatusOK, &one); err != nil {
		t.Fatal(err)
	}
	if a, b := mustJSON(one), mustJSON(expected[7]); a != b {
		t.Errorf("GET /orders/%s = %s, want %s", expected[7].ID, a, b)
	}
	if err := getJSON("http://"+httpAddr+"/orders/o-999999", http.StatusNotFound, &struct{}{}); err != nil {
		t.Error(err)
	}
	for _, q := range queries {
		for _, msg := range []string{"event not applied", "event applied already"} {
			if n := logged(t, q, msg); n > 0 {
				t.Errorf("%s logged %q %d times: the read model is not the events' fold", q.Name, msg, n)
			}
		}
	}
	rebuilt := lines(t, queries[1], "rebuilt from the snapshot")
	if len(rebuilt) != 1 || rebuilt[0].Orders == 0 {
		t.Errorf("the restarted query service did not rebuild from a snapshot: %v", rebuilt)
	} else {
		t.Logf("%d events of %d orders; the query service, killed after %d, rebuilt %d orders from %d snapshot records",
			len(records), len(expected), len(killedAt), rebuilt[0].Orders, rebuilt[0].Records)
	}

	for _, group := range []struct {
		name      string
		processes []*proc.Process
	}{
		{"inventory", []*proc.Process{inventory}},
		{"notifications", notifications},
	} {
		wait.Until(t, 20*time.Second, group.name+" to handle every event", func() bool {
			n := 0
			for _, p := range group.processes {
				n += len(handled(t, p))
			}
			return n >= len(records)
		})
		checkExactlyOnce(t, group.name, records, group.processes)
	}

	for _, p := range []*proc.Process{inventory, notifications[1], queries[1]} {
		if err := p.Stop(); err != nil {
			t.Errorf("%s: stopping: %v", p.Name, err)
		}
	}
	if n := logged(t, queries[1], "wrote a snapshot"); n == 0 {
		t.Error("the query service wrote no snapshot when stopped")
	}
}

// buildBinaries builds runnel and the services into a temporary directory.
func buildBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", dir+"/", "runnel/cmd/runnel",
		"runnel/examples/orders", "runnel/examples/inventory", "runnel/examples/notifications", "runnel/examples/query")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built runnel and the services in %v", time.Since(start).Round(time.Millisecond))
	return dir
}

// logLine is what the test reads of a service's JSON log lines.
type logLine struct {
	Msg       string `json:"msg"`
	Level     string `json:"level"`
	Partition *int32 `json:"partition"`
	Offset    *int64 `json:"offset"`
	Orders    int    `json:"orders"`
	Records   int    `json:"records"`
}

// parse reads p's log lines; a line that is not JSON fails the test.
func parse(t *testing.T, p *proc.Process) []logLine {
	t.Helper()
	var parsed []logLine
	for _, line := range p.Lines() {
		var l logLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("%s logged a line that is not JSON: %q", p.Name, line)
		}
		parsed = append(parsed, l)
	}
	return parsed
}

// lines is p's log lines with message msg.
func lines(t *testing.T, p *proc.Process, msg string) []logLine {
	t.Helper()
	return slices.DeleteFunc(parse(t, p), func(l logLine) bool { return l.Msg != msg })
}

func logged(t *testing.T, p *proc.Process, msg string) int { return len(lines(t, p, msg)) }

// position is an event's place in the orders topic.
type position struct {
	partition int32
	offset    int64
}

// handled is the events a service logged, in the order it logged them: each
// service logs one line with the event's partition and offset per event
// (the order service once the event is appended).
func handled(t *testing.T, p *proc.Process) []position {
	t.Helper()
	var positions []position
	for _, l := range parse(t, p) {
		if l.Partition != nil && l.Offset != nil {
			positions = append(positions, position{*l.Partition, *l.Offset})
		}
	}
	return positions
}

// checkExactlyOnce checks that the processes of a group, between them,
// handled each record once, each process in partition order.
func checkExactlyOnce(t *testing.T, group string, records []*kgo.Record, processes []*proc.Process) {
	t.Helper()
	times := map[position]int{}
	for _, p := range processes {
		last := map[int32]int64{}
		for _, at := range handled(t, p) {
			times[at]++
			if previous, ok := last[at.partition]; ok && at.offset <= previous {
				t.Errorf("%s: %s handled partition %d's offset %d after %d", group, p.Name, at.partition, at.offset, previous)
			}
			last[at.partition] = at.offset
		}
	}
	for _, r := range records {
		at := position{r.Partition, r.Offset}
		if times[at] != 1 {
			t.Errorf("%s: the event at partition %d offset %d was handled %d times", group, r.Partition, r.Offset, times[at])
		}
		delete(times, at)
	}
	for at, n := range times {
		t.Errorf("%s: handled %d times an event at partition %d offset %d, which the topic does not hold", group, n, at.partition, at.offset)
	}
}

// readTopic reads the orders topic from its start to its end.
func readTopic(t *testing.T, addr string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(events.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ends, err := kadm.NewClient(client).ListEndOffsets(ctx, events.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	var records []*kgo.Record
	for int64(len(records)) < total {
		fetches := client.PollFetches(ctx)
		if err := errors.Join(ctx.Err(), fetches.Err0()); err != nil {
			t.Fatalf("reading %s: %v (%d of %d records read)", events.Topic, err, len(records), total)
		}
		records = append(records, fetches.Records()...)
	}
	return records
}

// fold is the orders the records' events make, by id: what the read model
// must serve.
func fold(t *testing.T, records []*kgo.Record) []events.Order {
	t.Helper()
	orders := map[string]*events.Order{}
	for _, r := range records {
		e, err := events.Decode(r)
		if err != nil {
			t.Fatal(err)
		}
		o := orders[e.OrderID]
		if o == nil {
			o = &events.Order{}
			orders[e.OrderID] = o
		}
		if applied, err := o.Apply(e); err != nil || !applied {
			t.Fatalf("the events of the orders topic do not fold: partition %d offset %d: applied %v, %v", r.Partition, r.Offset, applied, err)
		}
	}
	var sorted []events.Order
	for _, o := range orders {
		sorted = append(sorted, *o)
	}
	slices.SortFunc(sorted, func(a, b events.Order) int { return strings.Compare(a.ID, b.ID) })
	return sorted
}

// difference describes the first difference between two lists of orders.
func difference(want, got []events.Order) string {
	if len(want) != len(got) {
		return fmt.Sprintf("%d orders, want %d", len(got), len(want))
	}
	for i := range want {
		if a, b := mustJSON(got[i]), mustJSON(want[i]); a != b {
			return fmt.Sprintf("got %s, want %s", a, b)
		}
	}
	return ""
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// getJSON GETs url, expects status and decodes the JSON body into v.
func getJSON(url string, status int, v any) error {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != status {
		return fmt.Errorf("GET %s: %s, want %d", url, resp.Status, status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

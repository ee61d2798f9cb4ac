// Command demo shows the order flow at work (`make demo`): it starts a
// runnel broker on a free port over a temporary data directory, the
// inventory, notifications and query services, places some orders with the
// order service, waits until every service has caught up and prints what
// each did, restarts the query service to show its read model rebuilt from
// the snapshot topic, prints the read model, and stops everything with
// SIGTERM.
//
//	demo --runnel bin/runnel --bin bin/examples --orders 12
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"runnel/examples/events"
	"runnel/examples/internal/proc"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// catchUpTimeout bounds the wait for the services to catch up.
const catchUpTimeout = 30 * time.Second

func main() {
	runnel := flag.String("runnel", "bin/runnel", "the runnel binary")
	bin := flag.String("bin", "bin/examples", "the directory holding the example services")
	count := flag.Int("orders", 12, "how many orders to place")
	flag.Parse()
	// Ctrl-C stops the demo as cleanly as its end does (the services and the
	// broker see the SIGINT too, and stop).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *runnel, *bin, *count); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, runnel, bin string, count int) (err error) {
	out := os.Stdout
	dataDir, err := os.MkdirTemp("", "runnel-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	say(out, "starting a broker over %s", dataDir)
	broker, err := proc.StartBroker(out, runnel, dataDir)
	if err != nil {
		return err
	}
	services := map[string]*proc.Process{}
	defer func() {
		say(out, "stopping the services and the broker (SIGTERM)")
		for _, p := range []*proc.Process{services["inventory"], services["notifications"], services["query"], broker.Process} {
			if p == nil {
				continue
			}
			if stopErr := p.Stop(); stopErr != nil {
				printLines(out, p)
				err = errors.Join(err, fmt.Errorf("%s: %w", p.Name, stopErr))
			}
		}
	}()
	httpAddr, err := proc.FreeAddr()
	if err != nil {
		return err
	}
	start := func(name string, args ...string) (*proc.Process, error) {
		p, err := proc.Start(nil, name, filepath.Join(bin, name), append([]string{"--brokers", broker.Addr}, args...)...)
		if err == nil && name != "orders" {
			services[name] = p
		}
		return p, err
	}
	say(out, "starting the inventory, notifications and query services on %s", broker.Addr)
	for _, name := range []string{"inventory", "notifications"} {
		if _, err := start(name); err != nil {
			return err
		}
	}
	queryArgs := []string{"--http", httpAddr, "--snapshot-interval", "200ms"}
	if _, err := start("query", queryArgs...); err != nil {
		return err
	}

	say(out, "placing %d orders with the order service", count)
	orders, err := start("orders", "--count", strconv.Itoa(count), "--interval", "10ms")
	if err != nil {
		return err
	}
	select {
	case <-orders.Done():
	case <-ctx.Done():
		return errors.Join(ctx.Err(), orders.Stop())
	}
	if err := orders.Wait(); err != nil {
		return fmt.Errorf("orders: %w: %s", err, strings.Join(orders.Lines(), "\n"))
	}

	client, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr))
	if err != nil {
		return err
	}
	defer client.Close()
	admin := kadm.NewClient(client)
	ctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	if _, err := waitCaughtUp(ctx, admin, "http://"+httpAddr+"/orders"); err != nil {
		return err
	}
	say(out, "every service has caught up (the groups' lag is 0, the read model holds every event); what each did:")
	for _, p := range []*proc.Process{orders, services["inventory"], services["notifications"]} {
		printLines(out, p)
	}

	say(out, "restarting the query service: it rebuilds its read model from %s, then reads the events after it", events.SnapshotTopic)
	if err := services["query"].Stop(); err != nil {
		return err
	}
	printLines(out, services["query"])
	if _, err := start("query", queryArgs...); err != nil {
		return err
	}
	readModel, err := waitCaughtUp(ctx, admin, "http://"+httpAddr+"/orders")
	if err != nil {
		return err
	}
	printLines(out, services["query"])
	say(out, "the read model, GET http://%s/orders:", httpAddr)
	printOrders(out, readModel)
	return nil
}

// waitCaughtUp waits until both groups have committed every event and the
// read model holds them all, and returns the read model.
func waitCaughtUp(ctx context.Context, admin *kadm.Client, url string) ([]events.Order, error) {
	for {
		caughtUp, orders, err := caughtUp(ctx, admin, url)
		if caughtUp {
			return orders, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the services did not catch up: %w (%v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// caughtUp says whether both groups' lag is 0 and the read model's orders
// hold as many events (their versions) as the orders topic does.
func caughtUp(ctx context.Context, admin *kadm.Client, url string) (bool, []events.Order, error) {
	ends, err := admin.ListEndOffsets(ctx, events.Topic)
	if err != nil {
		return false, nil, err
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	lags, err := admin.Lag(ctx, "inventory", "notifications")
	if err != nil {
		return false, nil, err
	}
	for group, lag := range lags {
		if err := lag.Error(); err != nil {
			return false, nil, err
		}
		if lag.Lag.Total() > 0 || len(lag.Lag) == 0 {
			return false, nil, fmt.Errorf("group %s lags by %d", group, lag.Lag.Total())
		}
	}
	resp, err := http.Get(url)
	if err != nil {
		return false, nil, err
	}
	defer resp.Body.Close()
	var orders []events.Order
	if err := json.NewDecoder(resp.Body).Decode(&orders); err != nil {
		return false, nil, err
	}
	var applied int64
	for _, o := range orders {
		applied += int64(o.Version)
	}
	return applied == total, orders, fmt.Errorf("the read model holds %d of %d events", applied, total)
}

func printOrders(out io.Writer, orders []events.Order) {
	fmt.Fprintf(out, "  %-9s %-13s %-20s %8s  %s\n", "ID", "STATUS", "CUSTOMER", "AMOUNT", "ITEMS")
	for _, o := range orders {
		var items []string
		for _, item := range o.Items {
			items = append(items, item.String())
		}
		fmt.Fprintf(out, "  %-9s %-13s %-20s %5d.%02d  %s\n", o.ID, o.Status, o.Customer, o.AmountCents/100, o.AmountCents%100, strings.Join(items, " "))
	}
}

// printLines prints what p has logged so far, under its name.
func printLines(out io.Writer, p *proc.Process) {
	fmt.Fprintf(out, "\n== %s\n", p.Name)
	for _, line := range p.Lines() {
		fmt.Fprintln(out, "  "+strings.Replace(line, " service="+p.Name, "", 1))
	}
	fmt.Fprintln(out)
}

func say(out io.Writer, format string, args ...any) {
	fmt.Fprintf(out, "demo: %s\n", fmt.Sprintf(format, args...))
}

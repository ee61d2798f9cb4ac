package brokertest

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"runnel/broker"
	"runnel/internal/wait"
)

// StartCluster starts n brokers in one process, node ids 0 to n-1, each
// also a voter of the controller quorum (process.roles=broker,controller)
// over loopback TCP, with the given properties over the defaults and fresh
// log dirs. It returns once every broker's image holds all n unfenced. A broker
// a test closes (Close) stays closed; the others are closed when the test
// ends. (Restart is for a broker of Start: it would not keep the node's
// listeners.)
func StartCluster(t testing.TB, n int, overrides ...string) []*Broker {
	t.Helper()
	ports := freePorts(t, 2*n)
	var voters []string
	for i := range n {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i, ports[n+i]))
	}
	lns := make([]net.Listener, n)
	cfgs := make([]broker.Config, n)
	all := make([][]string, n)
	for i := range n {
		all[i] = append(append([]string(nil), defaults...),
			fmt.Sprintf("node.id=%d", i),
			"process.roles=broker,controller",
			fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", ports[i], ports[n+i]),
			"controller.listener.names=CONTROLLER",
			"controller.quorum.voters="+strings.Join(voters, ","),
			"runnel.cluster.id=brokertestClusterOfMany",
			"log.dirs="+t.TempDir(),
			"broker.heartbeat.interval.ms=200",
		)
		all[i] = append(all[i], overrides...)
		cfgs[i] = loadConfig(t, all[i])
		var err error
		if lns[i], err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", ports[i])); err != nil {
			t.Fatalf("brokertest: %v", err)
		}
	}
	// Each New waits for the quorum: they start together.
	made := make([]*broker.Broker, n)
	errs := make([]error, n)
	logws := make([]*testWriter, n)
	var wg sync.WaitGroup
	for i := range n {
		logws[i] = &testWriter{t: t}
		wg.Go(func() { made[i], errs[i] = broker.New(cfgs[i], logws[i].logger().With("test node", i)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for i, b := range made {
			if b != nil {
				b.Close()
			}
			lns[i].Close()
		}
		t.Fatalf("brokertest: %v", err)
	}
	brokers := make([]*Broker, n)
	for i, b := range made {
		brokers[i] = serve(t, b, lns[i], cfgs[i], all[i], logws[i])
	}
	wait.Until(t, 30*time.Second, "every broker unfenced in every image", func() bool {
		for _, b := range brokers {
			if len(b.Image().LiveBrokers()) != n {
				return false
			}
		}
		return true
	})
	return brokers
}

// freePorts returns n ports free on 127.0.0.1 a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("brokertest: %v", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

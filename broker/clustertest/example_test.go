package clustertest_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker/clustertest"
)

// A benchmark's use, without a test: a given binary, admin listeners for
// profiles and metrics, and the cluster closed by the caller.
func ExampleStart() {
	c, err := clustertest.Start(clustertest.Options{
		Binary:     "bin/runnel",
		Admin:      true,
		LogLevel:   "warn",
		Properties: []string{"runnel.segment.preallocate.bytes=67108864"},
		Ready:      clustertest.MetadataListsAllBrokers,
		Timeout:    time.Minute,
	})
	if err != nil {
		log.Fatal(err) // the error carries the tails of the nodes' logs
	}
	defer c.Close()
	for i, n := range c.Nodes() {
		fmt.Printf("node %d: pid %d, clients %s, metrics http://%s/metrics\n", n.ID, c.Pid(i), n.Addr, n.AdminAddr)
	}
	cl, err := c.Client(kgo.DefaultProduceTopic("orders"), kgo.AllowAutoTopicCreation())
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), kgo.StringRecord("a")).FirstErr(); err != nil {
		log.Fatal(err)
	}
}

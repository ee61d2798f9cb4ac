package brokertest_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/brokertest"
)

// TestStartClusterEveryNodeListsAll: once StartCluster returns, every
// node's own Metadata answer lists all three brokers at their client
// addresses, and so does a new admin client's BrokerMetadata (what tests
// read the brokers from). The old StartCluster polled BrokerMetadata and
// timed out whenever an admin client's first answer came from a node yet to
// apply the others' unfencing: kgo answers BrokerMetadata from that list
// without asking again (see Admin).
func TestStartClusterEveryNodeListsAll(t *testing.T) {
	brokers := brokertest.StartCluster(t, 3)
	var want []string
	for i, b := range brokers {
		want = append(want, fmt.Sprintf("%d@%s", i, b.Addr))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, b := range brokers {
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = []kmsg.MetadataRequestTopic{}
		resp, err := req.RequestWith(ctx, b.Client(t).SeedBrokers()[0]) // this node, not one kgo picks
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		var got []string
		for _, br := range resp.Brokers {
			got = append(got, fmt.Sprintf("%d@%s", br.NodeID, net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port)))))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("node %d's Metadata lists %v, want %v", i, got, want)
		}
		m, err := b.Admin(t).BrokerMetadata(ctx)
		if err != nil || len(m.Brokers) != 3 {
			t.Errorf("a new admin client of node %d: BrokerMetadata lists %v (%v), want all three", i, m.Brokers.NodeIDs(), err)
		}
	}
}

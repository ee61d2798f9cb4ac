package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Ready is a condition on a cluster: nil when it holds, else what is
// missing (WaitFor reports the last one when it gives up). ctx bounds one
// evaluation.
type Ready func(ctx context.Context, c *Cluster) error

// AnswersApiVersions holds when every running node answers ApiVersions,
// and at least one runs: each process serves clients, whatever the cluster
// agrees on.
func AnswersApiVersions(ctx context.Context, c *Cluster) error {
	return eachRunningNode(ctx, c, func(i int) error {
		resp, err := c.Request(ctx, i, kmsg.NewPtrApiVersionsRequest())
		if err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.(*kmsg.ApiVersionsResponse).ErrorCode); err != nil {
			return fmt.Errorf("clustertest: node %d: ApiVersions: %w", c.Node(i).ID, err)
		}
		return nil
	})
}

// MetadataListsAllBrokers holds when every running node's Metadata answer
// lists exactly the running nodes, by node id and client address: the
// brokers have registered with the controller and each has applied that
// to its metadata image. A killed node is listed until the controller
// fences it (broker.session.timeout.ms), so this also waits for that.
func MetadataListsAllBrokers(ctx context.Context, c *Cluster) error {
	running := c.runningNodes()
	want := make([]string, len(running))
	for k, i := range running {
		n := c.Node(i)
		want[k] = fmt.Sprintf("%d@%s", n.ID, n.Addr)
	}
	slices.Sort(want)
	return eachRunningNode(ctx, c, func(i int) error {
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = []kmsg.MetadataRequestTopic{} // no topics, only the brokers
		resp, err := c.Request(ctx, i, req)
		if err != nil {
			return err
		}
		var got []string
		for _, b := range resp.(*kmsg.MetadataResponse).Brokers {
			got = append(got, fmt.Sprintf("%d@%s", b.NodeID, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("clustertest: node %d's Metadata lists brokers %v, want %v", c.Node(i).ID, got, want)
		}
		return nil
	})
}

// eachRunningNode runs check on every running node and joins the errors;
// no running node is an error.
func eachRunningNode(ctx context.Context, c *Cluster, check func(i int) error) error {
	running := c.runningNodes()
	if len(running) == 0 {
		return errors.New("clustertest: no node is running")
	}
	var errs []error
	for _, i := range running {
		if err := check(i); err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

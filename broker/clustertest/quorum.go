package clustertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataTopic is the controller quorum's partition, the one
// DescribeQuorum describes.
const metadataTopic = "__cluster_metadata"

// ActiveController asks each running controller, on its controller
// listener, for DescribeQuorum (KIP-595) and returns the index of the one
// that answers as the quorum's leader (the others answer
// NOT_LEADER_OR_FOLLOWER) and the leader id it reported, which should be
// its node id.
func (c *Cluster) ActiveController(ctx context.Context) (i int, leaderID int32, err error) {
	var errs []error
	for _, i := range c.runningNodes() {
		n := c.Node(i)
		if !n.Controller() {
			continue
		}
		p, err := describeQuorum(ctx, n.ControllerAddr)
		if err == nil {
			return i, p.LeaderID, nil
		}
		errs = append(errs, fmt.Errorf("node %d: %w", n.ID, err))
	}
	return -1, -1, fmt.Errorf("clustertest: no active controller: %w", errors.Join(errs...))
}

// describeQuorum sends DescribeQuorum for __cluster_metadata-0 to addr and
// returns its partition when it answers without an error.
func describeQuorum(ctx context.Context, addr string) (*kmsg.DescribeQuorumResponseTopicPartition, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = metadataTopic
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = append(req.Topics, rt)
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return nil, err
	}
	r := resp.(*kmsg.DescribeQuorumResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return nil, err
	}
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		return nil, fmt.Errorf("DescribeQuorum answered %d topics", len(r.Topics))
	}
	p := &r.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return nil, err
	}
	return p, nil
}

// MetadataStatus is a broker's GET /v1/metadata: the metadata offset of
// the image it serves and the image's hash.
type MetadataStatus struct {
	Offset int64  `json:"offset"`
	Hash   string `json:"hash"`
}

// MetadataStatus asks node i's admin listener (Options.Admin) for its
// MetadataStatus.
func (c *Cluster) MetadataStatus(ctx context.Context, i int) (MetadataStatus, error) {
	n := c.Node(i)
	if n.AdminAddr == "" {
		return MetadataStatus{}, errors.New("clustertest: no admin listener (Options.Admin)")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.AdminAddr+"/v1/metadata", nil)
	if err != nil {
		return MetadataStatus{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return MetadataStatus{}, fmt.Errorf("clustertest: node %d: %w", n.ID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return MetadataStatus{}, fmt.Errorf("clustertest: node %d: GET /v1/metadata: %s", n.ID, resp.Status)
	}
	var st MetadataStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return MetadataStatus{}, fmt.Errorf("clustertest: node %d: /v1/metadata: %w", n.ID, err)
	}
	return st, nil
}

// EqualImages holds when every running node serves a metadata image with
// the same hash at the same offset (the nodes need Options.Admin).
func EqualImages(ctx context.Context, c *Cluster) error {
	var first MetadataStatus
	var firstID int32
	return eachRunningNode(ctx, c, func(i int) error {
		st, err := c.MetadataStatus(ctx, i)
		if err != nil {
			return err
		}
		if firstID == 0 {
			first, firstID = st, c.Node(i).ID
			return nil
		}
		if st != first {
			return fmt.Errorf("clustertest: node %d's image is %s at offset %d, node %d's %s at %d", c.Node(i).ID, st.Hash, st.Offset, firstID, first.Hash, first.Offset)
		}
		return nil
	})
}

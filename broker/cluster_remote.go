package broker

// A node of several reaches the active controller over the controller
// listener (package controllerclient): its ClusterController forwards to it
// whenever this node's own controller is not the active one
// (cluster_forward.go), and a broker-only node follows the committed
// metadata log from it with a controllerclient.Follower, which hands every
// image it applies to ImageCommitted.

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker/controllerclient"
	"runnel/broker/metadata"
)

// remoteController is this node's link to the active controller: nil
// fields on a single node.
type remoteController struct {
	client   *controllerclient.Client
	follower *controllerclient.Follower // broker-only nodes
}

// startControllerClient starts, on a node of several (process.roles set),
// the client to the active controller and makes the forwarding controller
// this broker's ClusterController; a broker-only node also starts
// following the metadata log.
func (b *Broker) startControllerClient() error {
	if len(b.cfg.ProcessRoles) == 0 {
		return nil
	}
	cl, err := controllerclient.New(controllerclient.Config{
		Voters:           b.cfg.QuorumVoters,
		BootstrapServers: b.cfg.QuorumBootstrapServers,
		Opts:             []kgo.Opt{kgo.ClientID(fmt.Sprintf("runnel-broker-%d", b.cfg.NodeID))},
		Logger:           b.logger,
	})
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.remote.client = cl
	fc := &forwardingController{remote: cl, image: b.image}
	if b.quorum != nil {
		fc.local = b.quorum.ctrl
	} else {
		f, err := controllerclient.StartFollower(controllerclient.FollowerConfig{
			Client: cl, NodeID: b.cfg.NodeID, ClusterID: b.clusterID, Applied: b.ImageCommitted, Logger: b.logger})
		if err != nil {
			return fmt.Errorf("broker: %w", err)
		}
		b.remote.follower = f
	}
	b.SetController(fc)
	return nil
}

// awaitFollower is a broker-only node's awaitQuorum: it waits until the
// metadata follower has applied what the active controller had committed
// when asked, logging every few seconds while no controller answers, and
// returns the image the follower holds then.
func (b *Broker) awaitFollower() (*metadata.Image, int64, error) {
	f := b.remote.follower
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(b.lifetime, 5*time.Second)
		committed, err := b.controller().CommittedOffset(ctx)
		if err == nil {
			err = f.WaitApplied(ctx, committed)
		}
		cancel()
		if err == nil {
			break
		}
		if b.lifetime.Err() != nil {
			return nil, 0, ErrClosed
		}
		b.logger.Warn("waiting for the metadata log from the active controller", "controllers", b.controllerAddrs(),
			"applied", f.AppliedOffset(), "waited", time.Since(start).Round(time.Second), "err", err)
	}
	offset := f.AppliedOffset()
	return f.Holder().Load(), offset, nil
}

// controllerAddrs are the controllers this node reaches, for logs.
func (b *Broker) controllerAddrs() string {
	if len(b.cfg.QuorumVoters) > 0 {
		return formatVoters(b.cfg.QuorumVoters)
	}
	return fmt.Sprint(b.cfg.QuorumBootstrapServers)
}

// stopRemote stops following the metadata log and closes the client.
func (b *Broker) stopRemote() {
	if b.remote.follower != nil {
		b.remote.follower.Close()
	}
	if b.remote.client != nil {
		b.remote.client.Close()
	}
}

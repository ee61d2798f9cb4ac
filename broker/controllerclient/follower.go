package controllerclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/controller"
	"runnel/broker/metadata"
	"runnel/broker/quorum"
)

// FollowerConfig configures a Follower.
type FollowerConfig struct {
	Client *Client
	// NodeID is the broker's node.id, the fetches' replica id (DescribeQuorum
	// lists the broker as an observer).
	NodeID    int32
	ClusterID string
	// Holder receives every image (nil: a new one).
	Holder *metadata.Holder
	// Applied, if set, is handed every image published, with the offset of
	// its last entry, in log order, from the Follower's goroutine (as
	// controller.Config's Applied): a broker's ImageCommitted.
	Applied func(img *metadata.Image, offset int64)
	// MaxWait is how long the active controller holds a fetch that finds
	// nothing new (default 500 ms); MaxBytes caps a fetch's entries and a
	// snapshot chunk (default 1 MiB).
	MaxWait  time.Duration
	MaxBytes int32
	// MinBackoff and MaxBackoff bound the wait after a failed fetch
	// (defaults 50 ms and 1 s).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger // nil: slog.Default()
}

// Follower keeps a broker-only node's metadata image up to date: it
// fetches the committed metadata log from the active controller
// (controller.FetchMetadata) and applies each entry with
// controller.ApplyEntry, the function every controller's state machine
// applies it with, so its image is the controllers' image at the same
// offset. A fetch below the controller's log start is answered with a
// snapshot id; the Follower then fetches that snapshot in chunks
// (FetchSnapshot), rebuilds the image from it (controller.RestoreImage)
// and fetches on from its end offset. It keeps nothing on disk: after a
// restart it fetches again from offset 0 (or the latest snapshot).
type Follower struct {
	cfg    FollowerConfig
	holder *metadata.Holder
	logger *slog.Logger

	mu      sync.Mutex
	applied int64         // the offset of the last entry applied, -1 none
	changed chan struct{} // closed and replaced when applied moves

	cancel context.CancelFunc
	done   chan struct{}
}

// StartFollower starts following the metadata log in a goroutine.
func StartFollower(cfg FollowerConfig) (*Follower, error) {
	if cfg.Client == nil {
		return nil, errors.New("controllerclient: a follower needs a client")
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 500 * time.Millisecond
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 20
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 50 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(time.Second, cfg.MinBackoff)
	}
	if cfg.Holder == nil {
		cfg.Holder = new(metadata.Holder)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Follower{cfg: cfg, holder: cfg.Holder, logger: logger.With("broker", cfg.NodeID), applied: -1,
		changed: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	f.holder.Publish(new(metadata.Image))
	go f.run(ctx)
	return f, nil
}

// Holder holds the current image.
func (f *Follower) Holder() *metadata.Holder { return f.holder }

// AppliedOffset is the metadata log offset of the last entry applied to
// the image (-1 before any): the broker's CurrentMetadataOffset.
func (f *Follower) AppliedOffset() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied
}

// WaitApplied waits until the entry at offset is applied (AppliedOffset >=
// offset) or ctx ends.
func (f *Follower) WaitApplied(ctx context.Context, offset int64) error {
	for {
		f.mu.Lock()
		applied, changed := f.applied, f.changed
		f.mu.Unlock()
		if applied >= offset {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("controllerclient: waiting for metadata offset %d (applied %d): %w", offset, applied, ctx.Err())
		}
	}
}

// Close stops following.
func (f *Follower) Close() {
	f.cancel()
	<-f.done
}

// publish makes img the image as of offset.
func (f *Follower) publish(img *metadata.Image, offset int64) {
	f.holder.Publish(img)
	f.mu.Lock()
	f.applied = offset
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	if f.cfg.Applied != nil {
		f.cfg.Applied(img, offset)
	}
}

func (f *Follower) run(ctx context.Context) {
	defer close(f.done)
	backoff := f.cfg.MinBackoff
	for ctx.Err() == nil {
		err := f.fetch(ctx)
		if err == nil {
			backoff = f.cfg.MinBackoff
			continue
		}
		if ctx.Err() != nil {
			return
		}
		// One line per failure, and failures back off to MaxBackoff: the log
		// cannot flood.
		f.logger.Warn("controllerclient: fetching the metadata log", "applied", f.AppliedOffset(), "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, f.cfg.MaxBackoff)
	}
}

// fetch fetches once from the offset after the last applied entry and
// applies what comes back (entries, or the snapshot it points at).
func (f *Follower) fetch(ctx context.Context) error {
	offset := f.AppliedOffset() + 1
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.ReplicaState.ID = f.cfg.NodeID, f.cfg.NodeID
	req.MaxWaitMillis, req.MaxBytes = int32(f.cfg.MaxWait.Milliseconds()), f.cfg.MaxBytes
	if f.cfg.ClusterID != "" {
		req.ClusterID = kmsg.StringPtr(f.cfg.ClusterID)
	}
	t := kmsg.NewFetchRequestTopic()
	t.Topic, t.TopicID = quorum.Partition.Topic, controller.MetadataTopicID
	p := kmsg.NewFetchRequestTopicPartition()
	p.Partition, p.FetchOffset, p.PartitionMaxBytes = quorum.Partition.Partition, offset, f.cfg.MaxBytes
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	kresp, err := f.cfg.Client.Request(ctx, req)
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return fmt.Errorf("controllerclient: a metadata fetch answered %d topics", len(resp.Topics))
	}
	rp := &resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
		return err
	}
	if rp.SnapshotID.EndOffset >= 0 {
		if rp.SnapshotID.EndOffset <= offset {
			return fmt.Errorf("controllerclient: a metadata fetch at %d pointed back at snapshot %d", offset, rp.SnapshotID.EndOffset)
		}
		return f.loadSnapshot(ctx, rp.SnapshotID.EndOffset, rp.SnapshotID.Epoch)
	}
	entries, err := quorum.DecodeEntryBatches(rp.RecordBatches)
	if err != nil {
		return err
	}
	img, applied := f.holder.Load(), offset-1
	for _, e := range entries {
		if at := int64(e.GetIndex()) - 1; at != applied+1 {
			if at <= applied {
				continue
			}
			return fmt.Errorf("controllerclient: the metadata fetch at %d skipped to offset %d", applied+1, at)
		}
		next, _, err := controller.ApplyEntry(img, e)
		if err != nil {
			// Every controller skips it alike: so does the broker.
			f.logger.Error("controllerclient: skipping a metadata entry that does not apply", "offset", applied+1, "err", err)
		}
		img, applied = next, applied+1
	}
	if applied >= offset {
		f.publish(img, applied)
	}
	return nil
}

// loadSnapshot fetches the snapshot whose end offset and epoch a fetch
// answered with, chunk by chunk, and makes its image the current one.
func (f *Follower) loadSnapshot(ctx context.Context, endOffset int64, epoch int32) error {
	var data []byte
	for {
		req := kmsg.NewPtrFetchSnapshotRequest()
		req.ReplicaID, req.MaxBytes = f.cfg.NodeID, f.cfg.MaxBytes
		if f.cfg.ClusterID != "" {
			req.ClusterID = kmsg.StringPtr(f.cfg.ClusterID)
		}
		t := kmsg.NewFetchSnapshotRequestTopic()
		t.Topic = quorum.Partition.Topic
		p := kmsg.NewFetchSnapshotRequestTopicPartition()
		p.Partition, p.CurrentLeaderEpoch, p.Position = quorum.Partition.Partition, -1, int64(len(data))
		p.SnapshotID.EndOffset, p.SnapshotID.Epoch = endOffset, epoch
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
		kresp, err := f.cfg.Client.Request(ctx, req)
		if err != nil {
			return err
		}
		resp := kresp.(*kmsg.FetchSnapshotResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return err
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return fmt.Errorf("controllerclient: a snapshot fetch answered %d topics", len(resp.Topics))
		}
		rp := &resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
			return fmt.Errorf("controllerclient: snapshot %d-%d: %w", endOffset, epoch, err)
		}
		if rp.Position != int64(len(data)) || rp.SnapshotID.EndOffset != endOffset || rp.SnapshotID.Epoch != epoch {
			return fmt.Errorf("controllerclient: asked for snapshot %d-%d at %d, got %d-%d at %d",
				endOffset, epoch, len(data), rp.SnapshotID.EndOffset, rp.SnapshotID.Epoch, rp.Position)
		}
		data = append(data, rp.Bytes...)
		if int64(len(data)) >= rp.Size {
			break
		}
		if len(rp.Bytes) == 0 {
			return fmt.Errorf("controllerclient: snapshot %d-%d: an empty chunk at %d of %d", endOffset, epoch, len(data), rp.Size)
		}
	}
	img, err := controller.RestoreImage(data)
	if err != nil {
		return fmt.Errorf("controllerclient: snapshot %d-%d: %w", endOffset, epoch, err)
	}
	f.logger.Info("controllerclient: loaded a metadata snapshot", "end_offset", endOffset, "epoch", epoch, "bytes", len(data))
	f.publish(img, endOffset-1)
	return nil
}

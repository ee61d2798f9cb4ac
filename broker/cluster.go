package broker

// The cluster (issue 12): every broker serves from the metadata image the
// controller quorum's committed log builds (package metadata).

import "runnel/broker/metadata"

// image is the cluster's metadata as this broker has applied it: brokers,
// topics, partitions with their replicas and leaders, and configs. It is
// the empty image until the broker has applied the first record.
func (b *Broker) image() *metadata.Image { return b.meta.Load() }

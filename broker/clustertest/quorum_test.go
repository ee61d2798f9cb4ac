package clustertest_test

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"runnel/broker/clustertest"
	"runnel/internal/wait"
)

// TestMetadataStatus: a node's /v1/metadata moves to a later offset and
// another hash when a topic is created, and one node's image equals
// itself (EqualImages).
func TestMetadataStatus(t *testing.T) {
	c, err := clustertest.Start(clustertest.Options{Nodes: 1, Admin: true, Ready: clustertest.MetadataListsAllBrokers, Test: t})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before, err := c.MetadataStatus(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := hex.DecodeString(before.Hash); err != nil || len(h) != 32 || before.Offset < 0 {
		t.Fatalf("/v1/metadata: %+v, want a SHA-256 and an offset", before)
	}
	// A node answers Metadata, listing itself, before its registration is
	// unfenced; until then a creation finds no broker to place on.
	var createErr error
	wait.Until(t, 10*time.Second, "a creation", func() bool {
		createErr = tryCreateTopic(c, 0, "status", 1)
		return createErr == nil
	})
	after, err := c.MetadataStatus(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after.Offset <= before.Offset || after.Hash == before.Hash {
		t.Errorf("/v1/metadata %+v after a creation, %+v before", after, before)
	}
	if err := clustertest.EqualImages(ctx, c); err != nil {
		t.Error(err)
	}
}

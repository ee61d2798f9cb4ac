package broker

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestProducerIDAllocator: ids are unique within a run and never reused
// by a later run over the same file, across block boundaries.
func TestProducerIDAllocator(t *testing.T) {
	path := filepath.Join(t.TempDir(), producerIDsFile)
	seen := map[int64]bool{}
	for run := range 3 {
		a := &producerIDAllocator{path: path}
		for range producerIDBlock + producerIDBlock/2 {
			id, err := a.next()
			if err != nil {
				t.Fatal(err)
			}
			if seen[id] || id < 0 {
				t.Fatalf("run %d: id %d handed out twice", run, id)
			}
			seen[id] = true
		}
	}
}

func TestInitProducerID(t *testing.T) {
	d := startDataBroker(t, nil)
	seen := map[int64]bool{}
	// Raw requests: a client would send a transactional one to the
	// transaction coordinator it looks up first.
	initOnce := func(version int16, txn *string) *kmsg.InitProducerIDResponse {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = version
		req.TransactionalID = txn
		req.TransactionTimeoutMillis = 60000
		rc := dialRaw(t, d.addr)
		rc.send(req, true)
		return rc.receive().(*kmsg.InitProducerIDResponse)
	}
	for round := range 2 {
		for v := range int16(6) {
			resp := initOnce(v, nil)
			if resp.ErrorCode != 0 || resp.ProducerEpoch != 0 || resp.ProducerID < 0 || seen[resp.ProducerID] {
				t.Fatalf("round %d: %+v (ids so far %v)", round, resp, seen)
			}
			seen[resp.ProducerID] = true
		}
		if resp := initOnce(4, kmsg.StringPtr("txn")); resp.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code || resp.ProducerID != -1 {
			t.Fatalf("transactional id: %+v", resp)
		}
		d.restart() // ids are not reused after a restart
	}

	// A transactional franz-go producer fails clearly instead of hanging.
	cl := d.client(kgo.TransactionalID("txn"), kgo.DefaultProduceTopic("t"))
	ctx := context.Background()
	err := cl.BeginTransaction()
	if err == nil {
		err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr()
	}
	if err == nil {
		t.Fatal("a transactional producer got through")
	}
}

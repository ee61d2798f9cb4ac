package broker

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/internal/wait"
)

// blockController is a ClusterController that answers AllocateProducerIds
// with the blocks sent on blocks (the rest of the interface is unused).
type blockController struct {
	ClusterController
	asked  chan struct{}
	blocks chan int64
}

func (c *blockController) AllocateProducerIDs(ctx context.Context, req *kmsg.AllocateProducerIDsRequest) *kmsg.AllocateProducerIDsResponse {
	c.asked <- struct{}{}
	resp := req.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	select {
	case resp.ProducerIDStart = <-c.blocks:
		resp.ProducerIDLen = 1000
	case <-ctx.Done():
		resp.ErrorCode = kerr.RequestTimedOut.Code
	}
	return resp
}

// TestProducerIDBlocks: a broker without a block answers no id (the
// handler's COORDINATOR_LOAD_IN_PROGRESS) and asks the controller for one;
// it hands the block out in order, asks for the next when 90% is used, and
// runs dry again when that one has not come by the end of the block.
func TestProducerIDBlocks(t *testing.T) {
	ctrl := &blockController{asked: make(chan struct{}, 1), blocks: make(chan int64)}
	b := &Broker{logger: slog.New(slog.DiscardHandler)}
	b.lifetime, b.endLifetime = context.WithCancel(context.Background())
	t.Cleanup(func() { b.endLifetime(); b.bg.Wait() })
	b.SetController(ctrl)
	if _, ok := b.nextProducerID(); ok {
		t.Fatal("an id before any block")
	}
	<-ctrl.asked
	ctrl.blocks <- 5000
	var got []int64
	wait.Until(t, 5*time.Second, "the first block", func() bool {
		id, ok := b.nextProducerID()
		if ok {
			got = append(got, id)
		}
		return ok
	})
	for len(got) < 1000 {
		id, ok := b.nextProducerID()
		if !ok {
			t.Fatalf("no id after %d of the block", len(got))
		}
		got = append(got, id)
		if len(got) == 901 {
			select {
			case <-ctrl.asked:
			case <-time.After(5 * time.Second):
				t.Fatal("the next block was not asked for at 90%")
			}
		}
	}
	for i, id := range got {
		if id != 5000+int64(i) {
			t.Fatalf("id %d is %d, want %d", i, id, 5000+i)
		}
	}
	if _, ok := b.nextProducerID(); ok {
		t.Fatal("an id after the block ran out and before the next came")
	}
	ctrl.blocks <- 9000
	wait.Until(t, 5*time.Second, "the next block", func() bool {
		id, ok := b.nextProducerID()
		if ok && id != 9000 {
			t.Fatalf("first id of the next block %d, want 9000", id)
		}
		return ok
	})
}

// initProducerID sends InitProducerId on rc until it answers other than
// COORDINATOR_LOAD_IN_PROGRESS (the broker's block has not come yet).
func initProducerID(t *testing.T, rc *rawConn, version int16) *kmsg.InitProducerIDResponse {
	t.Helper()
	var resp *kmsg.InitProducerIDResponse
	wait.Until(t, 10*time.Second, "an InitProducerId answer other than COORDINATOR_LOAD_IN_PROGRESS", func() bool {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = version
		rc.send(req, true)
		resp = rc.receive().(*kmsg.InitProducerIDResponse)
		return resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code
	})
	return resp
}

// TestThreeBrokersProducerIDs: three brokers hand out thousands of
// producer ids, each from blocks of the active controller, crossing block
// boundaries: none twice, all above the ids brokers gave out before
// (node.id << 32); a kgo idempotent producer works against each broker.
func TestThreeBrokersProducerIDs(t *testing.T) {
	brokers := startCluster(t, 3)
	seen := map[int64]int{}
	for i, b := range brokers {
		rc := dialRaw(t, b.Addr().String())
		for k := range 1500 {
			resp := initProducerID(t, rc, int16(k%6))
			if resp.ErrorCode != 0 || resp.ProducerEpoch != 0 {
				t.Fatalf("broker %d call %d: %+v", i, k, resp)
			}
			if prev, dup := seen[resp.ProducerID]; dup {
				t.Fatalf("id %d from broker %d and broker %d", resp.ProducerID, prev, i)
			}
			if resp.ProducerID < 3<<32 {
				t.Fatalf("id %d not above the brokers' own ids", resp.ProducerID)
			}
			seen[resp.ProducerID] = i
		}
	}
	if err := brokers[0].createTopic("idem", 3, 3, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, b := range brokers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()), kgo.DefaultProduceTopic("idem"), kgo.RequiredAcks(kgo.AllISRAcks()))
		if err != nil {
			t.Fatal(err)
		}
		for k := range 20 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "broker %d record %d", i, k)}).FirstErr(); err != nil {
				t.Fatalf("idempotent producer via broker %d: %v", i, err)
			}
		}
		cl.Close()
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
		if txn == nil {
			return initProducerID(t, rc, version)
		}
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

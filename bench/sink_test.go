package bench

import (
	"context"
	"testing"
	"time"

	"runnel/loadgen"
)

// The sink must ack everything the load generator sends, under every acks
// setting, or it is no ceiling.
func TestSinkAcksEverything(t *testing.T) {
	s, err := NewSink("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, acks := range []string{"all", "1", "0"} {
		t.Run("acks="+acks, func(t *testing.T) {
			cfg := loadgen.DefaultConfig()
			cfg.Brokers, cfg.Topic = []string{s.Addr()}, "sink-"+acks
			cfg.Producers, cfg.Consumers = 2, 0
			cfg.Acks, cfg.Idempotent = acks, acks == "all"
			cfg.Warmup, cfg.Duration, cfg.Records = 0, 0, 20000
			cfg.DrainTimeout = 5 * time.Second
			res, err := loadgen.Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if tot := res.Totals; tot.Acked != 20000 || tot.ProduceErrors != 0 {
				t.Fatalf("totals %+v, errors %v; want 20000 acked", tot, res.Errors)
			}
		})
	}
}

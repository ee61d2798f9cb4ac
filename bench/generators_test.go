package bench

import (
	"testing"

	"runnel/loadgen"
)

// TestGeneratorSharesPutTheConsumersApart: n processes share the producers,
// connections and rate, and the consumers get one more process of their
// own, so that no producing process also carries the consumer.
func TestGeneratorSharesPutTheConsumersApart(t *testing.T) {
	cfg := loadgen.Config{Producers: 3, Connections: 5, Consumers: 1, Rate: 900, Raw: true}
	shares := generatorShares(cfg, 2)
	if len(shares) != 3 {
		t.Fatalf("%d processes, want 2 producing and 1 consuming", len(shares))
	}
	var producers, connections, consumers int
	var rate float64
	for i, s := range shares {
		producers += s.Producers
		connections += s.Connections
		consumers += s.Consumers
		rate += s.Rate
		if (s.Producers > 0) == (s.Consumers > 0) {
			t.Errorf("process %d: %d producers and %d consumers, want one kind only", i, s.Producers, s.Consumers)
		}
	}
	if producers != 3 || connections != 5 || consumers != 1 || rate != 900 {
		t.Errorf("shares add up to %d producers, %d connections, %d consumers, %v records/s; want 3, 5, 1, 900",
			producers, connections, consumers, rate)
	}
	if shares[2].Consumers != 1 || shares[2].Rate != 0 {
		t.Errorf("the last process has %d consumers at %v records/s, want the consumer and no rate", shares[2].Consumers, shares[2].Rate)
	}
}

// TestGeneratorSharesWithoutConsumers: a produce-only load is n processes.
func TestGeneratorSharesWithoutConsumers(t *testing.T) {
	shares := generatorShares(loadgen.Config{Producers: 2, Connections: 2, Raw: true}, 2)
	if len(shares) != 2 || shares[0].Connections != 1 || shares[1].Connections != 1 {
		t.Errorf("shares %+v, want two processes of one connection", shares)
	}
}

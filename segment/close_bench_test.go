package segment_test

import (
	"math/rand"
	"strconv"
	"testing"
	"time"

	"runnel/segment"
)

// BenchmarkLogDirNewLeaders measures a log dir of many partitions that
// have each just got a leader epoch (issue 16: 10,000 new leaders): the
// first WriteCheckpoints, which writes every log's leader-epoch-checkpoint,
// then Close, which syncs, trims and snapshots every log. One operation is
// the whole dir; checkpoint-ms and close-ms report the two apart. Run with
// -benchtime=1x: setting up thousands of logs costs more than the rest.
func BenchmarkLogDirNewLeaders(b *testing.B) {
	for _, logs := range []int{2000} {
		b.Run("logs="+strconv.Itoa(logs), func(b *testing.B) {
			var checkpoint, closing time.Duration
			rng := rand.New(rand.NewSource(1))
			cfg := smallConfig()
			cfg.PreallocateBytes = 4096
			for b.Loop() {
				b.StopTimer()
				d, err := segment.OpenLogDir(b.TempDir(), logDirConfig, quietLogger)
				if err != nil {
					b.Fatal(err)
				}
				for i := range logs {
					l, err := d.Create(segment.TopicPartition{Topic: "t", Partition: int32(i)}, cfg)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := l.Append(randomBatch(rng, 1024, 1), segment.AppendOptions{LeaderEpoch: 1}); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				start := time.Now()
				if err := d.WriteCheckpoints(); err != nil {
					b.Fatal(err)
				}
				mid := time.Now()
				if err := d.Close(); err != nil {
					b.Fatal(err)
				}
				checkpoint += mid.Sub(start)
				closing += time.Since(mid)
			}
			b.ReportMetric(float64(checkpoint.Milliseconds())/float64(b.N), "checkpoint-ms")
			b.ReportMetric(float64(closing.Milliseconds())/float64(b.N), "close-ms")
		})
	}
}

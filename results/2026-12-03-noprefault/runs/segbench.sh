#!/bin/bash
# alternates prefault=true/false, one process per run, 3 rounds
T=/tmp/noprefault-bin/segment-base.test
for r in 1 2 3; do
  for pf in true false; do
    echo "== round $r prefault=$pf $(uptime)"
    $T -test.run XXX -test.benchmem -test.benchtime 2s -test.bench "BenchmarkAppend\$/size=(1024|16384)/log/prefault=$pf\$"
    $T -test.run XXX -test.benchtime 2s -test.bench "BenchmarkZZTailRead/size=(1024|16384)/prefault=$pf\$"
    $T -test.run XXX -test.benchtime 4096x -test.bench "BenchmarkAppendSyncedSmall/log/prefault=$pf\$"
    $T -test.run XXX -test.benchtime 2s -test.bench "BenchmarkAppendDurable/appenders=8/log\\+flusher/prefault=$pf\$"
  done
done

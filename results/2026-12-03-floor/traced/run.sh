#!/bin/bash
# usage: run.sh BIN TAG [perf-events...]  -- one manual latency-floor-10k run with perf tracepoints on the broker
BIN=$1; TAG=$2; shift 2
OUT=/tmp/floor-diag/$TAG; rm -rf $OUT; mkdir -p $OUT
DATA=/tmp/floor-data-$TAG; rm -rf $DATA; mkdir -p $DATA
$BIN serve --log-level warn --override listeners=PLAINTEXT://127.0.0.1:19100 --override log.dirs=$DATA \
  --override runnel.admin.listener=127.0.0.1:19101 --override runnel.flush.policy=durable $EXTRA > $OUT/broker.log 2>&1 &
BPID=$!
echo $BPID > $OUT/pid
for i in $(seq 50); do curl -s 127.0.0.1:19101/healthz >/dev/null && break; sleep 0.2; done
/work/wt/floor/bin/runnel loadgen --bootstrap-server 127.0.0.1:19100 --topic t --partitions 1 --producers 1 --consumers 0 \
  --record-size 1024 --rate 10000 --acks all --linger 0 --duration 3s --warmup 1s --quiet > /dev/null 2>&1
curl -s 127.0.0.1:19101/metrics > $OUT/metrics0.txt
if [ -n "$PERF" ]; then
  perf record -q -o $OUT/perf.data -p $BPID $PERF -- sleep 8 > /dev/null 2>&1 &
  PP=$!
fi
/work/wt/floor/bin/runnel loadgen --bootstrap-server 127.0.0.1:19100 --topic t --partitions 1 --producers 1 --consumers 0 \
  --record-size 1024 --rate 10000 --acks all --linger 0 --duration 10s --warmup 1s --quiet --json $OUT/lg.json > $OUT/lg.txt 2>&1
[ -n "$PERF" ] && wait $PP
curl -s 127.0.0.1:19101/metrics > $OUT/metrics1.txt
kill $BPID; wait $BPID 2>/dev/null
rm -rf $DATA
grep -E "produce latency" $OUT/lg.txt

#!/bin/bash
# usage: run.sh BIN OUTDIR [perf]
BIN=$1; OUT=$2; PERF=$3
mkdir -p $OUT; rm -rf /tmp/p10k/data; mkdir -p /tmp/p10k/data
$BIN serve --listeners PLAINTEXT://127.0.0.1:19192 --log.dirs /tmp/p10k/data \
  --override runnel.segment.preallocate.bytes=131072 --override log.index.size.max.bytes=65536 $EXTRA \
  > $OUT/broker.log 2>&1 &
BP=$!
for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/19192) 2>/dev/null && break; sleep 0.2; done
/work/main/bin/runnel loadgen --bootstrap-server 127.0.0.1:19192 --topic t10k --partitions ${PARTS:-10000} --raw --batch-records 16 --in-flight 8 --connections 4 \
  --acks 1 --producers 2 --consumers 1 --rate 0 --duration 40s --warmup 10s --quiet --json $OUT/lg.json > $OUT/lg.out 2>&1 &
LP=$!
if [ "$PERF" = perf ]; then sleep 25; perf record -F 999 -g -p $BP -o $OUT/perf.data -- sleep 15 > /dev/null 2>&1; fi
if [ "$PERF" = pprof ]; then sleep 25; curl -s -o $OUT/cpu.pprof "http://127.0.0.1:9644/debug/pprof/profile?seconds=15"; fi
while kill -0 $LP 2>/dev/null; do sleep 1; done
kill $BP; while kill -0 $BP 2>/dev/null; do sleep 0.2; done
python3 -c "
import json;d=json.load(open('$OUT/lg.json'));print({k:d[k] for k in d if not isinstance(d[k],(dict,list))}); print(d.get('produced'))"

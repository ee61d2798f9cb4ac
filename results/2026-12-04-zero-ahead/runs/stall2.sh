#!/bin/bash
# stall2.sh BIN TAG PROFILE(0/1): latency-25-like load standalone, optionally with a CPU profile of the broker over the run
BIN=$1; TAG=$2; PROF=$3
rm -rf /tmp/fx/data-s; mkdir -p /tmp/fx/data-s
$BIN serve --listeners PLAINTEXT://127.0.0.1:19192 --log.dirs /tmp/fx/data-s --override runnel.flush.policy=durable --override num.partitions=8 --override runnel.admin.listener=127.0.0.1:19644 > /tmp/fx/serve-stall-$TAG.log 2>&1 &
SP=$!
for i in $(seq 50); do (echo > /dev/tcp/127.0.0.1/19192) 2>/dev/null && break; sleep 0.1; done
CP=; if [ "$PROF" = 1 ]; then ( sleep 3; curl -s -o /tmp/fx/prof-$TAG.pprof "http://127.0.0.1:19644/debug/pprof/profile?seconds=20" ) & CP=$!; fi
/work/main/bin/runnel loadgen --bootstrap-server 127.0.0.1:19192 --topic s --partitions 8 --producers 2 --consumers 1 --record-size 1024 --rate 140000 --acks all --duration 20s --warmup 3s --quiet --json /tmp/fx/stall-$TAG.json > /tmp/fx/stall-$TAG.txt 2>&1
[ -n "$CP" ] && wait $CP
kill $SP; wait $SP
python3 -c "
import json;r=json.load(open('/tmp/fx/stall-$TAG.json'))
tl=r.get('timeline') or r.get('Timeline') or []
print('$TAG prof=$PROF', [round(t['produce_p99_ms']) for t in tl])"
grep 'produce latency\|send delay' /tmp/fx/stall-$TAG.txt

#!/bin/bash
# usage: lat50-run.sh BIN RATE CONSUMERS [extra serve overrides...]
BIN=$1; RATE=$2; CONS=$3; shift 3
D=/tmp/lat50-d$$; rm -rf $D; mkdir -p $D
OV=(); for o in "$@"; do OV+=(--override "$o"); done
$BIN serve --log-level warn --override listeners=PLAINTEXT://127.0.0.1:19400 --override log.dirs=$D --override runnel.admin.listener=127.0.0.1:19401 "${OV[@]}" >/tmp/lat50-serve.log 2>&1 &
BP=$!
sleep 1.5
T0=$(awk '{print $14+$15}' /proc/$BP/stat)
$BIN loadgen --bootstrap-server 127.0.0.1:19400 --topic t --partitions 8 --producers 2 --consumers $CONS --record-size 1024 --rate $RATE --acks all --duration 20s --warmup 3s --quiet --json /tmp/lat50-lg.json > /tmp/lat50-lg.out 2>&1 &
LP=$!
sleep 4; [ -n "$PERF" ] && (perf record -F 499 -g -o /tmp/lat50-perf.data -p $LP -- sleep 10 >/dev/null 2>&1 &); L0=$(awk '{print $14+$15}' /proc/$LP/stat); B0=$(awk '{print $14+$15}' /proc/$BP/stat); S0=$(date +%s.%N)
sleep 15; L1=$(awk '{print $14+$15}' /proc/$LP/stat); B1=$(awk '{print $14+$15}' /proc/$BP/stat); S1=$(date +%s.%N)
wait $LP
M=/tmp/lat50-m-$(date +%s%N).txt; curl -s 127.0.0.1:19401/metrics > $M; cp $M /tmp/lat50-metrics.txt
kill $BP; wait $BP 2>/dev/null
rm -rf $D
python3 - <<PY
import json
el=$S1-$S0
out={"metrics":"$M","bin":"$BIN","ov":"$*","lg_cores":($L1-$L0)/100/el,"br_cores":($B1-$B0)/100/el}
d=json.load(open('/tmp/lat50-lg.json'))
out.update(prod=d['produced']['records_per_sec'],cons=d['consumed']['records_per_sec'],p50=d['produce_latency']['p50_ms'],p99=d['produce_latency']['p99_ms'],p999=d['produce_latency']['p99_9_ms'],e2e99=d['end_to_end_latency']['p99_ms'],send99=d['send_delay']['p99_ms'],load=open('/proc/loadavg').read().split()[0])
import os
open(os.environ.get('ABOUT','/tmp/lat50-ab.jsonl'),'a').write(json.dumps(out)+"\n")
print("cores: loadgen %.2f broker %.2f"%(($L1-$L0)/100/el, ($B1-$B0)/100/el))
d=json.load(open('/tmp/lat50-lg.json'))
pl=d['produce_latency']; e=d['end_to_end_latency']; s=d['send_delay']
print("prod rec/s %.0f cons rec/s %.0f"%(d['produced']['records_per_sec'], d['consumed']['records_per_sec']))
print("produce", {k:pl[k] for k in pl if k.startswith('p') or k=='max'})
print("e2e", {k:e[k] for k in e if k.startswith('p') or k=='max'})
print("send", {k:s[k] for k in s if k.startswith('p99') or k=='max'})
PY

#!/bin/bash
# generator CPU per record against the sink: lat50-gen.sh BIN RATE -> appends to /tmp/lat50-gen.jsonl
BIN=$1; RATE=$2
/work/wt/lat50/bin/runnel-bench peer --kind sink --port 19410 >/dev/null 2>&1 &
SP=$!; sleep 1
$BIN loadgen --bootstrap-server 127.0.0.1:19410 --topic t --partitions 8 --producers 2 --consumers 0 --record-size 1024 --rate $RATE --acks all --duration 15s --warmup 2s --quiet --json /tmp/lat50-gen.json >/dev/null 2>&1 &
LP=$!
sleep 3; L0=$(awk '{print $14+$15}' /proc/$LP/stat); S0=$(date +%s.%N)
sleep 12; L1=$(awk '{print $14+$15}' /proc/$LP/stat); S1=$(date +%s.%N)
wait $LP; kill $SP; wait $SP 2>/dev/null
python3 -c "
import json;d=json.load(open('/tmp/lat50-gen.json'));el=$S1-$S0;c=($L1-$L0)/100/el
print(json.dumps(dict(bin='$BIN',cores=c,prod=d['produced']['records_per_sec'],us_per_rec=c/d['produced']['records_per_sec']*1e6,send99=d['send_delay']['p99_ms'],p99=d['produce_latency']['p99_ms'],load=open('/proc/loadavg').read().split()[0])))" >> /tmp/lat50-gen.jsonl

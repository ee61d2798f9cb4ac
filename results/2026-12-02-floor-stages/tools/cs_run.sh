#!/bin/bash
# cs_run.sh <runnel binary> <label> <rate>: a broker on 19400, raw one-record requests at <rate>/s, acks=all;
# perf stat of the broker's context switches, futex calls, fdatasyncs and CPU over 6 s in the middle.
bin=$1; label=$2; rate=$3; d=/tmp/floor2/man/$label
rm -rf $d; mkdir -p $d/data
$bin serve --log-level warn --override listeners=PLAINTEXT://127.0.0.1:19400 --override log.dirs=$d/data --override runnel.admin.listener=127.0.0.1:19401 --override runnel.flush.policy=durable > $d/broker.log 2>&1 &
pid=$!
sleep 2
timeout 60 /tmp/floor2/new/runnel loadgen --bootstrap-server 127.0.0.1:19400 --topic f1 --partitions 1 --producers 1 --consumers 0 --record-size 1024 --rate $rate --acks all --linger 0 --raw --connections 1 --in-flight 64 --batch-records 1 --duration 10s --warmup 2s --quiet > $d/lg.out 2>&1 &
lg=$!
sleep 4
before=$(curl -s 127.0.0.1:19401/metrics | grep -E '^runnel_request_duration_seconds_count\{api="Produce"\}' | awk '{print $2}')
perf stat -x, -e task-clock,context-switches,cpu-migrations,syscalls:sys_enter_futex,syscalls:sys_enter_fdatasync,syscalls:sys_enter_write,syscalls:sys_enter_epoll_pwait -p $pid -o $d/stat.txt -- sleep 6
after=$(curl -s 127.0.0.1:19401/metrics | grep -E '^runnel_request_duration_seconds_count\{api="Produce"\}' | awk '{print $2}')
wait $lg
kill $pid; wait $pid 2>/dev/null
python3 - "$label" "$before" "$after" $d/stat.txt <<'PY'
import sys
label,b,a,path=sys.argv[1:]
n=float(a)-float(b)
out=[]
for line in open(path):
    p=line.strip().split(',')
    if len(p)<3 or not p[0].replace('.','').isdigit(): continue
    out.append(f"{p[2].replace('syscalls:sys_enter_','')} {float(p[0])/n:.2f}")
print(f"{label}: {n:.0f} produce requests; per request: "+', '.join(out))
PY
grep 'produce latency' $d/lg.out

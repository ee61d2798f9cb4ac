#!/bin/bash
# ptrace_run.sh <runnel binary> <label>: a broker on 19400, raw 1,000 records/s of 1 KiB, acks=all, perf trace 6 s
bin=$1; label=$2; d=/tmp/floor2/man/$label
rm -rf $d; mkdir -p $d/data
$bin serve --log-level warn --override listeners=PLAINTEXT://127.0.0.1:19400 --override log.dirs=$d/data --override runnel.admin.listener=127.0.0.1:19401 --override runnel.flush.policy=durable > $d/broker.log 2>&1 &
pid=$!
sleep 2
timeout 60 /tmp/floor2/new/runnel loadgen --bootstrap-server 127.0.0.1:19400 --topic f1 --partitions 1 --producers 1 --consumers 0 --record-size 1024 --rate 1000 --acks all --linger 0 --raw --connections 1 --in-flight 64 --batch-records 1 --duration 10s --warmup 2s --quiet > $d/lg.out 2>&1 &
lg=$!
sleep 4
timeout 6 perf trace -p $pid -e fdatasync,write,writev,read,epoll_pwait -T -o $d/trace.txt > /dev/null 2>&1
wait $lg
kill $pid; wait $pid 2>/dev/null
echo "$label $(cat /proc/loadavg)"
python3 /tmp/floor2/tools/ptrace.py $d/trace.txt auto auto
tail -4 $d/lg.out | head -2

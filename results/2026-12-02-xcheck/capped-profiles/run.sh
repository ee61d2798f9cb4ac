#!/bin/bash
# Profiles a Runnel capped at 0.1 core under the generator, then under kcat.
set -u
B=/work/wt/capped/bin/runnel; D=$(mktemp -d /tmp/capped/prof/data.XXXX); CG=/sys/fs/cgroup/cpu/runnel-prof-$$
mkdir $CG && echo 100000 > $CG/cpu.cfs_period_us && echo 10000 > $CG/cpu.cfs_quota_us
$B serve --log-level warn --override listeners=PLAINTEXT://127.0.0.1:19092 --override log.dirs=$D \
  --override runnel.admin.listener=127.0.0.1:19093 --override runnel.flush.policy=durable > /tmp/capped/prof/serve.log 2>&1 &
P=$!; sleep 2; echo $P > $CG/cgroup.procs
cpu() { awk '{print $14+$15}' /proc/$P/stat; }
G="--bootstrap-server 127.0.0.1:19092 --topic t --partitions 8 --producers 1 --consumers 0 --record-size 1024 --acks 1 --linger 5ms --raw --connections 2 --in-flight 4 --warmup 1s --duration 24s --quiet"
c0=$(cpu); $B loadgen $G --json /tmp/capped/prof/g1.json & $B loadgen $G --json /tmp/capped/prof/g2.json &
sleep 3; curl -s -o /tmp/capped/prof/gen.pprof "http://127.0.0.1:19093/debug/pprof/profile?seconds=20"; wait %2 %3; c1=$(cpu)
echo "gen broker ticks $((c1-c0))"; grep -o '"mb_per_sec":[0-9.]*' /tmp/capped/prof/g1.json | head -1; grep -o '"mb_per_sec":[0-9.]*' /tmp/capped/prof/g2.json | head -1
head -c $((1025*400000)) /tmp/capped/prof/lines 2>/dev/null | wc -c
c0=$(cpu); s=$(date +%s.%N)
for i in 1 2; do kcat -P -q -b 127.0.0.1:19092 -t t -l -X acks=1 -X linger.ms=5 -X batch.num.messages=961 -X batch.size=1000000 -X queue.buffering.max.messages=1000000 -X queue.buffering.max.kbytes=2097152 /tmp/capped/prof/lines & done
sleep 3; curl -s -o /tmp/capped/prof/kcat.pprof "http://127.0.0.1:19093/debug/pprof/profile?seconds=20"; wait %4 %5; c1=$(cpu); e=$(date +%s.%N)
echo "kcat broker ticks $((c1-c0)) secs $(echo "$e - $s" | bc)"
kill $P; wait $P; rmdir $CG; rm -rf $D

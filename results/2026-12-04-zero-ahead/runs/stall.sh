#!/bin/bash
# stall.sh BIN TAG: latency-25-like load standalone, PSI sampled every 100 ms
BIN=$1; TAG=$2
rm -rf /tmp/fx/data-s; mkdir -p /tmp/fx/data-s
$BIN serve --listeners PLAINTEXT://127.0.0.1:19192 --log.dirs /tmp/fx/data-s --override runnel.flush.policy=durable --override num.partitions=8 > /tmp/fx/serve-stall-$TAG.log 2>&1 &
SP=$!
for i in $(seq 50); do (echo > /dev/tcp/127.0.0.1/19192) 2>/dev/null && break; sleep 0.1; done
( for i in $(seq 260); do echo "$(date +%s.%N) $(grep some /proc/pressure/io | awk '{print $5}') $(grep full /proc/pressure/io | awk '{print $5}') $(grep some /proc/pressure/cpu | awk '{print $5}') $(awk '{print $14+$15}' /proc/$SP/stat)"; sleep 0.1; done > /tmp/fx/psi-$TAG.txt ) &
echo "start $(date +%s.%N)" > /tmp/fx/stall-$TAG.txt
/work/main/bin/runnel loadgen --bootstrap-server 127.0.0.1:19192 --topic s --partitions 8 --producers 2 --consumers 1 --record-size 1024 --rate 140000 --acks all --duration 20s --warmup 3s --quiet --json /tmp/fx/stall-$TAG.json >> /tmp/fx/stall-$TAG.txt 2>&1
wait %2
kill $SP; wait $SP

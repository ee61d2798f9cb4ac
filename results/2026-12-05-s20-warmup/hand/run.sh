#!/bin/bash
# many-partitions load at $1 partitions; perf records the broker for 10 s in the middle.
P=$1
L=${L:-/work/main/bin/runnel}
rm -rf /tmp/p10k/data
$L serve --override log.dirs=/tmp/p10k/data --override listeners=PLAINTEXT://127.0.0.1:19092 --override advertised.listeners=PLAINTEXT://127.0.0.1:19092 \
  --override runnel.segment.preallocate.bytes=131072 --override log.index.size.max.bytes=65536 --override runnel.admin.listener=127.0.0.1:19644 $EXTRA > broker-$P.log 2>&1 &
B=$!
sleep 2
common="--bootstrap-server 127.0.0.1:19092 --topic m$P --partitions $P --record-size 1024 --acks 1 --idempotent=false --raw --batch-records 16 --in-flight 8 --warmup ${WARM:-3}s --duration 20s --quiet"
$L loadgen $common --producers 1 --connections 2 --consumers 0 --duration 1s --warmup 0s > /dev/null 2>&1
$L loadgen --bootstrap-server 127.0.0.1:19092 --topic m$P --partitions $P --producers 0 --consumers 1 --rate 0 --warmup $((${WARM:-3}-1))s --duration 22s --quiet > c-$P.txt 2>&1 &
C=$!
sleep 1
$L loadgen $common --producers 1 --connections 2 --consumers 0 --json p0-$P.json > p0-$P.txt 2>&1 &
G0=$!
$L loadgen $common --producers 1 --connections 2 --consumers 0 --json p1-$P.json > p1-$P.txt 2>&1 &
G1=$!
sleep $((${WARM:-3}+15))

wait $G0 $G1 $C
kill $B; wait $B
rm -rf /tmp/p10k/data

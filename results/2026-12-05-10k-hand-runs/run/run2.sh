#!/bin/bash
# The many-partitions load (raw 16 KiB batches, acks=1, 2 generators of 2 connections, IF in flight each, the consumer in the first generator as the harness runs it) against a fresh broker with P partitions: IF=8 ./run2.sh 10000
P=$1
L=/work/main/bin/runnel
rm -rf /tmp/p10k/data
$L serve --override log.dirs=/tmp/p10k/data --override listeners=PLAINTEXT://127.0.0.1:19092 --override advertised.listeners=PLAINTEXT://127.0.0.1:19092 \
  --override runnel.segment.preallocate.bytes=131072 --override log.index.size.max.bytes=65536 --override runnel.admin.listener=127.0.0.1:19644 > broker$P.log 2>&1 &
B=$!
sleep 2
common="--bootstrap-server 127.0.0.1:19092 --topic m$P --partitions $P --record-size 1024 --acks 1 --idempotent=false --raw --batch-records 16 --in-flight $IF --warmup 3s --duration 20s --quiet"
$L loadgen $common --producers 1 --connections 2 --consumers 0 --duration 1s --warmup 0s > /dev/null 2>&1  # create the topic
$L loadgen $common --producers 1 --connections 2 --consumers 1 --json g0-$P-$IF.json > g0-$P-$IF.txt 2>&1 &
G0=$!
$L loadgen $common --producers 1 --connections 2 --consumers 0 --json g1-$P-$IF.json > g1-$P-$IF.txt 2>&1 &
G1=$!


wait $G0 $G1
kill $B; wait $B
rm -rf /tmp/p10k/data

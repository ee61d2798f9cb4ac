#!/bin/bash
# produce-acksall-many's load (1,000 partitions, raw 1 MB batches, acks=all, 2 generators of 4 connections)
# with IF requests in flight per connection, against a fresh broker each time.
L=/work/main/bin/runnel
for IF in $INFLIGHTS; do
rm -rf /tmp/aam/data
$L serve --override log.dirs=/tmp/aam/data --override listeners=PLAINTEXT://127.0.0.1:19092 --override advertised.listeners=PLAINTEXT://127.0.0.1:19092 \
  --override runnel.segment.preallocate.bytes=4194304 --override runnel.admin.listener=127.0.0.1:19644 > broker-$IF.log 2>&1 &
B=$!
sleep 2
common="--bootstrap-server 127.0.0.1:19092 --topic a --partitions 1000 --record-size 1024 --acks all --raw --connections 4 --in-flight $IF --warmup 3s --duration 15s --quiet --consumers 0 --producers 1"
$L loadgen $common --duration 1s --warmup 0s > /dev/null 2>&1
$L loadgen $common --json g0-$IF.json > g0-$IF.txt 2>&1 &
G0=$!
$L loadgen $common --json g1-$IF.json > g1-$IF.txt 2>&1
wait $G0
kill $B; wait $B
rm -rf /tmp/aam/data
done

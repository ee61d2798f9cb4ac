#!/bin/bash
# local.sh <bindir> <partitions> <port> : a broker + loadgen (raw, 2 producers, 1 consumer, 16-record batches, 8 in flight)
# as the harness's many-partitions-10k load, durable flush policy
bin=$1; parts=$2; port=$3
d=/tmp/tenk2/data-$port; rm -rf $d; mkdir -p $d
$bin/runnel serve --log-level warn --override listeners=PLAINTEXT://127.0.0.1:$port --override log.dirs=$d --override runnel.admin.listener=127.0.0.1:$((port+1)) --override runnel.flush.policy=durable --override runnel.segment.preallocate.bytes=131072 --override log.index.size.max.bytes=65536 > /tmp/tenk2/broker-$port.log 2>&1 &
bp=$!
sleep 1
$bin/runnel loadgen --bootstrap-server 127.0.0.1:$port --topic t --partitions $parts --producers 2 --consumers 1 --record-size 1024 --acks 1 --raw --connections 4 --in-flight 8 --batch-records 16 --warmup 3s --duration ${DUR:-20s} --quiet 2>&1 | grep -E 'produced|consumed'
echo "broker cpu ticks $(awk '{print $14+$15}' /proc/$bp/stat) load $(cut -d' ' -f1-3 /proc/loadavg)"
kill -KILL $bp; wait $bp 2>/dev/null
rm -rf $d

#!/bin/bash
# shut.sh <bindir> <partitions> <port>: create, produce a little, SIGTERM, time the exit
bin=$1; parts=$2; port=$3
d=/tmp/tenk2/sdata-$port; rm -rf $d; mkdir -p $d
$bin/runnel serve --log-level info --override listeners=PLAINTEXT://127.0.0.1:$port --override log.dirs=$d --override runnel.admin.listener=127.0.0.1:$((port+1)) --override runnel.segment.preallocate.bytes=131072 --override log.index.size.max.bytes=65536 > /tmp/tenk2/shut-$port.log 2>&1 &
bp=$!
sleep 1
$bin/runnel loadgen --bootstrap-server 127.0.0.1:$port --topic t --partitions $parts --producers 1 --consumers 0 --record-size 1024 --acks 1 --raw --connections 2 --in-flight 8 --batch-records 16 --warmup 0s --duration ${DUR:-5s} --quiet 2>&1 | grep -E 'produced'
sleep ${IDLE:-2}
s=$(date +%s.%N)
kill -TERM $bp; wait $bp
e=$(date +%s.%N)
echo "shutdown $(echo "$e - $s" | bc) s"

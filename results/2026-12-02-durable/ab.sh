#!/bin/bash
# usage: dab.sh BIN PARTITIONS TAG -> prints "TAG MB/s"
BIN=$1; P=$2; TAG=$3; shift 3
PORT=$((19000 + RANDOM % 1000)); ADMIN=$((PORT+1000))
D=$(mktemp -d /tmp/dab-XXXX)
$BIN serve --log-level warn --override listeners=PLAINTEXT://127.0.0.1:$PORT --override log.dirs=$D/data \
  --override runnel.admin.listener=127.0.0.1:$ADMIN --override runnel.flush.policy=durable \
  --override runnel.segment.preallocate.bytes=4194304 "$@" > $D/broker.log 2>&1 &
BP=$!
for i in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
# create topic with a tiny run
$BIN loadgen --bootstrap-server 127.0.0.1:$PORT --topic t --partitions $P --producers 1 --consumers 0 --records 10 --warmup 0 --duration 0 --quiet >/dev/null 2>&1
T0=$(awk '{print $14+$15}' /proc/$BP/stat)
GP=""
for g in 0 1; do
  $BIN loadgen --bootstrap-server 127.0.0.1:$PORT --topic t --partitions $P --producers 1 --connections 2 --consumers 0 \
    --raw --in-flight 32 --batch-records 64 --keys 0 --acks all --record-size 1024 --warmup 3s --duration 15s --quiet --json $D/g$g.json > /dev/null 2>$D/g$g.err &
  GP="$GP $!"
done
wait $GP
T1=$(awk '{print $14+$15}' /proc/$BP/stat)
kill $BP; wait $BP 2>/dev/null
MB=$(python3 -c "import json;print(sum(json.load(open('$D/g%d.json'%i))['produced']['mb_per_sec'] for i in (0,1)))" 2>/dev/null)
echo "$TAG P=$P MB/s=$MB brokerCPUticks=$((T1-T0)) load=$(cut -d' ' -f1 /proc/loadavg)"
rm -rf $D

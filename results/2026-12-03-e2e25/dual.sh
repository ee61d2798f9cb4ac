#!/bin/bash
# usage: dual.sh TAG STALL_AT(seconds after the loadgen starts; 0: none) RATE
TAG=$1; AT=$2; RATE=$3
rm -rf /tmp/e2e25-data; mkdir -p /tmp/e2e25-data
/tmp/e2e25-bin/runnel-lp serve --log-level warn --override listeners=PLAINTEXT://127.0.0.1:19201 --override log.dirs=/tmp/e2e25-data --override runnel.admin.listener=127.0.0.1:19202 --override runnel.flush.policy=durable --override runnel.segment.preallocate.bytes=4194304 > /tmp/e2e25-broker-$TAG.log 2>&1 &
BPID=$!
sleep 1
if [ "$AT" != 0 ]; then ( sleep $AT; kill -STOP $BPID; sleep 0.7; kill -CONT $BPID ) & fi
echo "== $TAG stall at $AT s, rate $RATE, load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/e2e25-dual.txt
LOADGEN_DUAL=/tmp/e2e25-dual.txt /tmp/e2e25-bin/runnel-dual loadgen --bootstrap-server 127.0.0.1:19201 --topic lt --partitions 8 --producers 2 --consumers 1 --acks all --rate $RATE --warmup 3s --duration 20s --quiet --json /tmp/e2e25-dual-$TAG.json > /dev/null 2>&1
kill $BPID; wait $BPID 2>/dev/null
rm -rf /tmp/e2e25-data

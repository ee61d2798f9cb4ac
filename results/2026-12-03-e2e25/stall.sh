#!/bin/bash
# usage: stall.sh BROKERBIN TAG [extra overrides...]
BIN=$1; TAG=$2; shift 2
EXTRA=()
for o in "$@"; do EXTRA+=(--override "$o"); done
rm -rf /tmp/e2e25-data; mkdir -p /tmp/e2e25-data
$BIN serve --log-level warn --override listeners=PLAINTEXT://127.0.0.1:19201 --override log.dirs=/tmp/e2e25-data --override runnel.admin.listener=127.0.0.1:19202 --override runnel.flush.policy=durable --override runnel.segment.preallocate.bytes=4194304 "${EXTRA[@]}" > /tmp/e2e25-broker-$TAG.log 2>&1 &
BPID=$!
sleep 1
[ "${STALL:-1}" = 1 ] && ( sleep 9; kill -STOP $BPID; sleep 0.7; kill -CONT $BPID ) &
LOADGEN_TRACE=/tmp/e2e25-st-$TAG ${LG:-/tmp/e2e25-bin/runnel-trace} loadgen --bootstrap-server 127.0.0.1:19201 --topic lt --partitions 8 --producers 2 --consumers 1 --acks all --rate ${RATE:-100000} --warmup 2s --duration 14s --quiet --json /tmp/e2e25-st-$TAG.json 2>&1 | grep -E "produce latency|end-to-end|consumed|produced"
grep -E "^(read_bytes|rchar)" /proc/$BPID/io | tr "\n" " "; echo; kill $BPID; wait $BPID 2>/dev/null
rm -rf /tmp/e2e25-data

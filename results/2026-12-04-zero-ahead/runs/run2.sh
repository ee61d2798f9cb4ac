#!/bin/bash
# usage: run2.sh BIN TAG CMD-during (run at 8s for ~10s, $SP = server pid) [serve overrides]
BIN=$1; TAG=$2; DURING=$3; shift 3
rm -rf /tmp/fx/data-$TAG; mkdir -p /tmp/fx/data-$TAG
$BIN serve --listeners PLAINTEXT://127.0.0.1:19192 --log.dirs /tmp/fx/data-$TAG --override runnel.flush.policy=durable --override num.partitions=1 "$@" > /tmp/fx/serve-$TAG.log 2>&1 &
SP=$!
for i in $(seq 50); do (echo > /dev/tcp/127.0.0.1/19192) 2>/dev/null && break; sleep 0.1; done
( sleep 8; export SP; eval "$DURING" ) &
/work/main/bin/runnel loadgen --bootstrap-server 127.0.0.1:19192 --topic f --partitions 1 --producers 1 --consumers 0 --record-size 1024 --rate 10000 --acks all --raw --batch-records 1 --connections 1 --in-flight 64 --duration 20s --warmup 3s --quiet --json /tmp/fx/lg-$TAG.json > /tmp/fx/lg-$TAG.txt 2>&1
wait %2 2>/dev/null
kill $SP; wait $SP

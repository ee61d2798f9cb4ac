#!/bin/bash
# usage: ab.sh TAG-A "ENV-A" BIN-A TAG-B "ENV-B" BIN-B PAIRS [serve overrides]
TA=$1; EA=$2; BA=$3; TB=$4; EB=$5; BB=$6; N=$7; shift 7
one() { # tag env bin i
  rm -rf /tmp/fx/data-x; mkdir -p /tmp/fx/data-x
  env $2 $3 serve --listeners PLAINTEXT://127.0.0.1:19192 --log.dirs /tmp/fx/data-x --override runnel.flush.policy=durable --override num.partitions=1 "${@:5}" > /tmp/fx/serve-$1-$4.log 2>&1 &
  local SP=$!
  for i in $(seq 50); do (echo > /dev/tcp/127.0.0.1/19192) 2>/dev/null && break; sleep 0.1; done
  /work/main/bin/runnel loadgen --bootstrap-server 127.0.0.1:19192 --topic f --partitions 1 --producers 1 --consumers 0 --record-size 1024 --rate ${RATE:-10000} --acks all $LGARGS --duration 20s --warmup 3s --quiet > /tmp/fx/lg-$1-$4.txt 2>&1
  kill $SP; wait $SP
  echo "$1 $4 $(grep 'produce latency' /tmp/fx/lg-$1-$4.txt) load $(cut -d' ' -f1 /proc/loadavg)"
}
for i in $(seq $N); do
  if [ $((i % 2)) = 1 ]; then one $TA "$EA" $BA $i "$@"; one $TB "$EB" $BB $i "$@"; else one $TB "$EB" $BB $i "$@"; one $TA "$EA" $BA $i "$@"; fi
done

#!/bin/bash
# A: one process (2 producers + 1 consumer); B: producers and consumer in two processes; C: no consumer.
# A fresh broker per round (each round writes ~18 GB); the freeze probe beside.
L=/work/main/bin/runnel
common="--bootstrap-server 127.0.0.1:19092 --partitions 8 --record-size 1024 --acks all --warmup 3s --duration 20s --quiet"
R=${RATE:-257000}
for round in $ROUNDS; do
rm -rf /tmp/exp/data
$L serve --override log.dirs=/tmp/exp/data --override listeners=PLAINTEXT://127.0.0.1:19092 --override advertised.listeners=PLAINTEXT://127.0.0.1:19092 > broker$round.log 2>&1 &
BROKER=$!
sleep 2
for x in A B C; do
  sleep 9999 | RUNNEL_BENCH_FREEZE_PROBE=1 GOMAXPROCS=1 /work/main/bin/runnel-bench > probe$x$round.txt 2>&1 &
  case $x in
  A) $L loadgen $common --topic A$round --producers 2 --consumers 1 --rate $R --json A$round.json > A$round.txt 2>&1 ;;
  B) $L loadgen $common --topic B$round --producers 0 --consumers 1 --rate 0 --duration 22s --json Bc$round.json > Bc$round.txt 2>&1 &
     CONS=$!
     sleep 1
     $L loadgen $common --topic B$round --producers 2 --consumers 0 --rate $R --json B$round.json > B$round.txt 2>&1
     wait $CONS ;;
  C) $L loadgen $common --topic C$round --producers 2 --consumers 0 --rate $R --json C$round.json > C$round.txt 2>&1 ;;
  esac
  pkill -f "^sleep 9999"
done
kill $BROKER; wait $BROKER
done
rm -rf /tmp/exp/data

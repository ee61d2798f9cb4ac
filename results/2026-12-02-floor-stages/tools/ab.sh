#!/bin/bash
# A/B in turn: BB = 27f0beb harness+broker, NN = this branch's, NB = this branch's harness with 27f0beb's broker
out=/tmp/floor2/runs
for round in 1 2 3 4; do
  for arm in BB NN NB; do
    case $arm in
      BB) h=/tmp/floor2/base/runnel-bench; r=/tmp/floor2/base/runnel;;
      NN) h=/tmp/floor2/new/runnel-bench; r=/tmp/floor2/new/runnel;;
      NB) h=/tmp/floor2/new/runnel-bench; r=/tmp/floor2/base/runnel;;
    esac
    d=$out/$arm-$round
    echo "== $arm round $round $(date -u +%T) load: $(cat /proc/loadavg) io: $(head -1 /proc/pressure/io 2>/dev/null)" >> $out/ab.log
    $h --only latency-floor --runnel $r --work-dir /tmp/floor2/work --out $d > $d.log 2>&1
    echo "   done $(date -u +%T) load: $(cat /proc/loadavg) io: $(head -1 /proc/pressure/io 2>/dev/null)" >> $out/ab.log
    [ -f /tmp/floor2/stop ] && exit 0
  done
done

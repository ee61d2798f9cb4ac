#!/bin/bash
# A/B in turn: BB = 27f0beb harness+broker, NN = this branch's (a2acf0b), latency-floor; then produce-acksall once each
out=/tmp/floor2/runs2
mkdir -p $out
for round in 1 2 3 4; do
  for arm in BB NN; do
    case $arm in
      BB) h=/tmp/floor2/base/runnel-bench; r=/tmp/floor2/base/runnel;;
      NN) h=/tmp/floor2/new/runnel-bench; r=/tmp/floor2/new/runnel;;
    esac
    d=$out/$arm-$round
    echo "== $arm round $round $(date -u +%T) load: $(cat /proc/loadavg) io: $(head -1 /proc/pressure/io 2>/dev/null)" >> $out/ab.log
    $h --only latency-floor --runnel $r --work-dir /tmp/floor2/work --out $d > $d.log 2>&1
    echo "   done $(date -u +%T) load: $(cat /proc/loadavg) io: $(head -1 /proc/pressure/io 2>/dev/null)" >> $out/ab.log
    [ -f /tmp/floor2/stop2 ] && break 2
  done
done
for arm in BB NN; do
    case $arm in
      BB) h=/tmp/floor2/base/runnel-bench; r=/tmp/floor2/base/runnel;;
      NN) h=/tmp/floor2/new/runnel-bench; r=/tmp/floor2/new/runnel;;
    esac
    d=$out/acksall-$arm
    echo "== acksall $arm $(date -u +%T) load: $(cat /proc/loadavg) io: $(head -1 /proc/pressure/io 2>/dev/null)" >> $out/ab.log
    $h --only produce-acksall --runnel $r --work-dir /tmp/floor2/work --out $d > $d.log 2>&1
    echo "   done $(date -u +%T) load: $(cat /proc/loadavg)" >> $out/ab.log
    [ -f /tmp/floor2/stop3 ] && break
done

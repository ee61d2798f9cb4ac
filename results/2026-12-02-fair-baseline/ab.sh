#!/bin/bash
# A/B: main's broker (27f0beb) against drop-behind's, alternated, same harness (fair baselines).
# usage: ab.sh <pairs> <first-index>
cd /tmp/fairbase
for i in $(seq $2 $(($2+$1-1))); do
  for v in main drop; do
    echo "$(date -u +%T) start $v-$i load $(cut -d' ' -f1-3 /proc/loadavg) memfree $(awk '/MemFree/{print $2}' /proc/meminfo)" >> ab/times.txt
    /tmp/fairbase/fair/runnel-bench --only produce-acksall --runnel /tmp/fairbase/$v/runnel --out ab/$v-$i --work-dir /tmp/fairbase/work > ab/$v-$i.log 2>&1
    echo "$(date -u +%T) end $v-$i load $(cut -d' ' -f1-3 /proc/loadavg) rc $?" >> ab/times.txt
    sleep 20
  done
done

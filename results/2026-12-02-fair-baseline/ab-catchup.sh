#!/bin/bash
cd /tmp/fairbase
for i in $1; do
  for v in main drop; do
    echo "$(date -u +%T) start catchup $v-$i load $(cut -d' ' -f1-3 /proc/loadavg) memfree $(awk '/MemFree/{print $2}' /proc/meminfo)" >> ab/times.txt
    /tmp/fairbase/fair/runnel-bench --only catch-up --runnel /tmp/fairbase/$v/runnel --out ab/cu-$v-$i --work-dir /tmp/fairbase/work > ab/cu-$v-$i.log 2>&1
    echo "$(date -u +%T) end catchup $v-$i load $(cut -d' ' -f1-3 /proc/loadavg) rc $?" >> ab/times.txt
    sleep 10
  done
done

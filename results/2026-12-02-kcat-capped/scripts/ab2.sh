#!/bin/bash
cd /work/wt/kcat

for run in prio3 old3 prio4; do
  case $run in new*) B=/tmp/kcat/runnel-bench-new;; old*) B=/tmp/kcat/runnel-bench-old;; prio*) B=/tmp/kcat/runnel-bench-prio;; esac
  [ -e /tmp/kcat/ab2.stop ] && break
  echo "$run start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/kcat/ab/series.log
  $B --only produce-acks1 --runnel ./bin/runnel --work-dir /tmp/kcat/work --out /tmp/kcat/ab/$run > /tmp/kcat/ab/$run.log 2>&1
  echo "$run end $(date -u +%T) rc $? load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/kcat/ab/series.log
done

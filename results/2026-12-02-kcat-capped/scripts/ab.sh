#!/bin/bash
cd /work/wt/kcat
for run in new1 old1 new2 old2 new3 old3; do
  case $run in new*) B=./bin/runnel-bench;; old*) B=/tmp/kcat/runnel-bench-old;; esac
  [ -e /tmp/kcat/ab.stop ] && break
  echo "$run start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/kcat/ab/series.log
  $B --only produce-acks1 --runnel ./bin/runnel --work-dir /tmp/kcat/work --out /tmp/kcat/ab/$run > /tmp/kcat/ab/$run.log 2>&1
  echo "$run end $(date -u +%T) rc $? load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/kcat/ab/series.log
done

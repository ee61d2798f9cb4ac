#!/bin/bash
cd /work/wt/kcatcpu
for r in ${RUNS:-h7:final h8:base h9:final}; do
  n=${r%%:*}; v=${r##*:}
  echo "$n $v start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/kcatcpu/series.log
  mkdir -p /tmp/kcatcpu/$n
  /tmp/kcatcpu-bin/runnel-bench-$v --only produce-acks1 --runnel /tmp/kcatcpu-bin/runnel --work-dir /tmp/kcatcpu-work --out /tmp/kcatcpu/$n > /tmp/kcatcpu/$n.log 2>&1
  echo "$n $v end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) rc $?" >> /tmp/kcatcpu/series.log
done

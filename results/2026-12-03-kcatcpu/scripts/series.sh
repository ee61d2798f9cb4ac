#!/bin/bash
# alternating harness runs: base (main's runnel-bench) and new (this branch's), same broker binary
cd /work/wt/kcatcpu
for r in h3:base h4:new h5:base h6:new; do
  n=${r%%:*}; v=${r##*:}
  echo "$n $v start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/kcatcpu/series.log
  mkdir -p /tmp/kcatcpu/$n
  /tmp/kcatcpu-bin/runnel-bench-$v --only produce-acks1 --runnel /tmp/kcatcpu-bin/runnel --work-dir /tmp/kcatcpu-work --out /tmp/kcatcpu/$n > /tmp/kcatcpu/$n.log 2>&1
  echo "$n $v end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) rc $?" >> /tmp/kcatcpu/series.log
done

#!/bin/bash
# alternating pairs: base (main 6a48ec0, default off; its -drop scenario = old 1 MiB drop) vs keepwin with drop.behind=true (keep window default 1 GiB)
cd /work/wt/keepwin
for i in 1 2 3; do
  for v in base keep; do
    extra=""
    bin=/tmp/keepwin-bin/runnel-base
    if [ $v = keep ]; then bin=/tmp/keepwin-bin/runnel-keep; extra="--override runnel.segment.drop.behind=true"; fi
    echo "$(date -u +%T) start $v $i load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/keepwin-res/log
    ./bin/runnel-bench --only produce-acksall $extra --runnel $bin --work-dir /tmp/keepwin-work --out /tmp/keepwin-res/pa-$v-$i > /tmp/keepwin-res/pa-$v-$i.out 2>&1
    echo "$(date -u +%T) end $v $i rc $? load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/keepwin-res/log
  done
done

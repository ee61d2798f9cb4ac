#!/bin/bash
cd /work/wt/keepwin
while kill -0 $(cat /tmp/keepwin-res/pid) 2>/dev/null; do sleep 5; done
run() { # name bin only extra...
  local name=$1 bin=$2 only=$3; shift 3
  echo "$(date -u +%T) start $name load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/keepwin-res/log
  ./bin/runnel-bench --only $only "$@" --runnel $bin --work-dir /tmp/keepwin-work --out /tmp/keepwin-res/$name > /tmp/keepwin-res/$name.out 2>&1
  echo "$(date -u +%T) end $name rc $? load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/keepwin-res/log
}
B=/tmp/keepwin-bin/runnel-base; K=/tmp/keepwin-bin/runnel-keep; D="--override runnel.segment.drop.behind=true"
# within-run: produce-acksall = drop off, produce-acksall-drop = drop on with the window (default 1 GiB, or 0 = 1 MiB each)
for i in 1 2 3; do run w-win-$i $K produce-acksall; run w-one-$i $K produce-acksall --override runnel.segment.cache.keep.bytes=0; done
for i in 1 2; do run cu-base-$i $B catch-up; run cu-keep-$i $K catch-up $D; done
run l50-base-1 $B latency-50; run l50-keep-1 $K latency-50 $D

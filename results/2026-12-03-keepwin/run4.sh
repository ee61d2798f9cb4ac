#!/bin/bash
cd /work/wt/keepwin
while pgrep -f "keepwin-res/run3.sh" >/dev/null; do sleep 3; done
run() {
  local name=$1 bin=$2 only=$3; shift 3
  echo "$(date -u +%T) start $name load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/keepwin-res/log
  ./bin/runnel-bench --only $only "$@" --runnel $bin --work-dir /tmp/keepwin-work --out /tmp/keepwin-res/$name > /tmp/keepwin-res/$name.out 2>&1
  echo "$(date -u +%T) end $name rc $? load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/keepwin-res/log
}
B=/tmp/keepwin-bin/runnel-base; K=/tmp/keepwin-bin/runnel-keep; D="--override runnel.segment.drop.behind=true"
run cu-base-3 $B catch-up; run cu-keep-3 $K catch-up $D
run l50-base-2 $B latency-50; run l50-keep-2 $K latency-50 $D

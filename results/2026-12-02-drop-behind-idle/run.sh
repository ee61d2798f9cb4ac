#!/bin/bash
cd /work/main
for i in 1 2; do
  for mode in default drop; do
    o=(); [ $mode = drop ] && o=(--override runnel.segment.drop.behind=true)
    echo "$(date +%T) catch-up $mode $i load=$(cut -d' ' -f1 /proc/loadavg)"
    ./bin/runnel-bench --only catch-up "${o[@]}" --runnel ./bin/runnel --out /tmp/lead-ab/catchup-$mode-$i > /tmp/lead-ab/catchup-$mode-$i.log 2>&1
  done
done
for mode in default drop; do
  o=(); [ $mode = drop ] && o=(--override runnel.segment.drop.behind=true)
  echo "$(date +%T) many $mode load=$(cut -d' ' -f1 /proc/loadavg)"
  ./bin/runnel-bench --only produce-acksall-many "${o[@]}" --runnel ./bin/runnel --out /tmp/lead-ab/many-$mode > /tmp/lead-ab/many-$mode.log 2>&1
done
echo "$(date +%T) end"

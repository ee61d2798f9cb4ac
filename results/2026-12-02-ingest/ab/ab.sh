#!/bin/bash
# A/B: main's broker vs the drop-behind broker, produce-acksall (8 and 1,000 partitions), alternating.
for i in 1 2 3; do
  for v in main drop; do
    echo "$(date -u +%T) start $v $i load $(cut -d' ' -f1-3 /proc/loadavg)"
    /tmp/ingest/runnel-bench --only produce-acksall --runnel /tmp/ingest/runnel-$v --out /tmp/ingest/ab-$v-$i > /tmp/ingest/ab-$v-$i.log 2>&1
    echo "$(date -u +%T) end $v $i rc=$? load $(cut -d' ' -f1-3 /proc/loadavg)"
  done
done

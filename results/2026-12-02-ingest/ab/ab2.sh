#!/bin/bash
while ! grep -q "end drop 3" /tmp/ingest/ab.out; do sleep 5; done
for i in 4 5; do
  for v in drop main; do
    echo "$(date -u +%T) start $v $i load $(cut -d' ' -f1-3 /proc/loadavg)"
    /tmp/ingest/runnel-bench --only produce-acksall --runnel /tmp/ingest/runnel-$v --out /tmp/ingest/ab-$v-$i > /tmp/ingest/ab-$v-$i.log 2>&1
    echo "$(date -u +%T) end $v $i rc=$? load $(cut -d' ' -f1-3 /proc/loadavg)"
  done
done

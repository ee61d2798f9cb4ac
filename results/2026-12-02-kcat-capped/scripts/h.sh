#!/bin/bash
cd /work/wt/kcat
echo "prio5 start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/kcat/ab/series.log
/tmp/kcat/runnel-bench-prio --only produce-acks1 --runnel ./bin/runnel --work-dir /tmp/kcat/work --out /tmp/kcat/ab/prio5 > /tmp/kcat/ab/prio5.log 2>&1 &
hp=$!
( tail -F /tmp/kcat/ab/prio5.log 2>/dev/null | while IFS= read -r l; do echo "$(date +%s.%N) $l"; done > /tmp/kcat/ab/prio5.tlog ) &
tp=$!
while kill -0 $hp 2>/dev/null; do
  for d in /sys/fs/cgroup/cpu/runnel-bench-*; do
    case $d in *-clients|'/sys/fs/cgroup/cpu/runnel-bench-*') continue;; esac
    pid=$(head -1 $d/cgroup.procs 2>/dev/null)
    if [ -n "$pid" ]; then perf record -q -F 499 -g -p $pid -o /tmp/kcat/perf-h.data >/dev/null 2>&1; break 2; fi
  done
  sleep 0.2
done
wait $hp
echo "prio5 end $(date -u +%T) rc $? load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/kcat/ab/series.log
sleep 1; kill $tp; pkill -P $tp 2>/dev/null

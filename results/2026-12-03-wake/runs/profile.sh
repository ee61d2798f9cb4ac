#!/bin/bash
# profile.sh <ab-dir>: CPU seconds (cum) per GB produced of the functions this branch touches,
# from each run's pprof profile (20 s) and its produced bytes (results.json).
ab=$1
funcs='segment.\(\*Log\).append$|segment.\(\*notifier\).(notify|notifyAppend|wake)$|broker.\(\*fetch\).longPoll$|broker.handleFetch$|segment.\(\*segment\).updateIndexes$|index.\(\*OffsetIndex\).Append$|index.\(\*TimeIndex\).MaybeAppend$|segment.\(\*Log\).maybeRollLocked$|disk.osFS.Pwrite$|runtime.mcall$|runtime.schedule$|runtime.findRunnable$'
for d in "$ab"/p*-*/; do
  run=$(basename "$d")
  for s in many-partitions-8 many-partitions many-partitions-10k; do
    gb=$(python3 -c "
import json;d=json.load(open('$d/results.json'))
print([r['result']['produced']['bytes'] for r in d['runs'] if r['target']=='runnel' and r['scenario']=='$s'][0]/1e9)")
    go tool pprof -top -cum -nodecount=2000 "$d/profiles/$s-cpu.pprof" 2>/dev/null |
      awk -v run="$run" -v s="$s" -v gb="$gb" -v re="$funcs" '
        /^Duration/ { total=$0; sub(/.*Total samples = /, "", total); sub(/s .*/, "", total); printf "%s %s total %.3f s/GB\n", run, s, total/gb }
        $0 ~ re { v=$4; sub(/s$/, "", v); if (v ~ /ms$/) { sub(/ms$/, "", v); v=v/1000 } printf "%s %s %s %.3f s/GB\n", run, s, $6, v/gb }'
  done
done

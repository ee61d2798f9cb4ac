#!/bin/sh
# The direct test, alternated: each round runs every file kind at every delay of sync B after
# sync A, under perf stat -a counting jbd2 commits and ext4 fsyncs system-wide (the other
# helper's too: a 10 s idle count of this process's absence follows each round).
# One JSON line per run in raw/pairs.jsonl, perf's counts in raw/pairs-perf.txt.
set -e
bin=${BIN:-/tmp/overlap-bin/pairsync}
out=$(dirname "$0")/raw/pairs.jsonl
perfout=$(dirname "$0")/raw/pairs-perf.txt
dir=/tmp/overlap-data
mkdir -p "$dir"
for r in $(seq 1 "${1:-3}"); do
  for delay in 50us 150us; do
    for file in falloc zeroed append; do
      echo "== round $r file $file delay $delay load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$perfout"
      line=$(perf stat -a -x, -e jbd2:jbd2_start_commit,ext4:ext4_sync_file_enter -o "$perfout" --append \
        "$bin" -file $file -delay $delay -n 1000 -dir "$dir")
      echo "{\"round\":$r,\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"at\":\"$(date +%T)\",\"run\":$line}" >>"$out"
      sleep 1
    done
  done
  echo "== round $r idle 10s load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$perfout"
  perf stat -a -x, -e jbd2:jbd2_start_commit,ext4:ext4_sync_file_enter -o "$perfout" --append sleep 10
done

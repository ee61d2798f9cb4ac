#!/bin/bash
# scrape.sh OUTFILE: while a runnel serve under /tmp/acksall1k-runs runs, scrape its /metrics every 2 s
out=$1; : > $out
for i in $(seq 1 400); do
  pid=$(pgrep -f "runnel.*serve.*acksall1k-runs" | head -1)
  if [ -n "$pid" ]; then
    adm=$(tr '\0' '\n' < /proc/$pid/cmdline | grep -o 'runnel.admin.listener=.*' | cut -d= -f2)
    if [ -n "$adm" ]; then
      m=$(curl -s --max-time 2 http://$adm/metrics | grep -E '^runnel_fsync_(duration_seconds|waiters)_(sum|count)|^runnel_produce_stage_seconds_(sum|count)|^runnel_request_duration_seconds_(sum|count).*Produce|^process_cpu_seconds_total')
      echo "$(date +%s.%N) pid=$pid $(echo $m | tr '\n' ' ')" >> $out
    fi
  fi
  sleep 2
done

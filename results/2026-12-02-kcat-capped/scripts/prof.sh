#!/bin/bash
# prof.sh LABEL CLIENT props... : run.sh with a perf profile of the broker from 3 s to 11 s
label=$1
( sleep 3; perf record -q -e cpu-clock -g -p $(cat /tmp/kcat/broker.pid) -o /tmp/kcat/perf-$label.data -- sleep 8 >/dev/null 2>&1 ) &
/tmp/kcat/run.sh "$@" >/dev/null 2>&1; tail -1 /tmp/kcat/runs.jsonl
wait
perf report -i /tmp/kcat/perf-$label.data --no-children --stdio -g none --percent-limit 2 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25 > /tmp/kcat/perf-$label.txt

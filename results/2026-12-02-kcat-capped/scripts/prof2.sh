#!/bin/bash
# prof2.sh LABEL CLIENT props... : run.sh in the weighted clients cgroup, with perf over the broker for the whole run
label=$1
CL=/sys/fs/cgroup/cpu/kcat-cli; mkdir -p $CL; echo 10240 > $CL/cpu.shares; echo $$ > $CL/cgroup.procs
perf record -q -F 499 -e cpu-clock -g -p $(cat /tmp/kcat/broker.pid) -o /tmp/kcat/perf2-$label.data >/dev/null 2>&1 &
pp=$!
/tmp/kcat/run.sh "$@" >/dev/null 2>&1; tail -1 /tmp/kcat/runs.jsonl
kill -INT $pp; wait $pp
perf report -i /tmp/kcat/perf2-$label.data --no-children --stdio --sort sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' > /tmp/kcat/perf2-$label.sym
echo $$ > /sys/fs/cgroup/cpu/cgroup.procs

#!/bin/bash
cd /tmp/floor-diag
export PERF="-e probe_runnel:* -e syscalls:sys_enter_fdatasync -e syscalls:sys_exit_fdatasync -e syscalls:sys_enter_writev -e syscalls:sys_enter_pwrite64"
for r in ${ROUNDS:-1 2 3}; do for arm in ${ARMS:-base inline inline2}; do
  echo "$(date -u +%T) $r $arm load $(cut -d' ' -f1-3 /proc/loadavg)" >> traced.log
  ./run.sh /tmp/floor-bin/runnel-$arm t$r-$arm >> traced.log 2>&1
  perf script -i t$r-$arm/perf.data 2>/dev/null > t$r-$arm/script.txt; rm -f t$r-$arm/perf.data
done; done
echo done >> traced.log

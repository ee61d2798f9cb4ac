#!/bin/bash
# broker.sh BIN [extra overrides...]: fresh capped Runnel on 19200 (admin 19201), data /tmp/kcatcpu-data
set -e
B=${1:-/work/wt/kcatcpu/bin/runnel}; shift || true
if [ -f /tmp/kcatcpu/broker.pid ]; then op=$(cat /tmp/kcatcpu/broker.pid); kill $op 2>/dev/null || true; for i in $(seq 60); do kill -0 $op 2>/dev/null || break; sleep 0.5; done; fi
rm -rf /tmp/kcatcpu-data; mkdir -p /tmp/kcatcpu-data
ov=(); for o in "$@"; do ov+=(--override "$o"); done
$B serve --log-level warn --override listeners=PLAINTEXT://127.0.0.1:19200 --override log.dirs=/tmp/kcatcpu-data \
  --override runnel.admin.listener=127.0.0.1:19201 --override runnel.flush.policy=durable "${ov[@]}" > /tmp/kcatcpu/broker.log 2>&1 &
pid=$!; echo $pid > /tmp/kcatcpu/broker.pid
CG=/sys/fs/cgroup/cpu/kcatcpu-b; mkdir -p $CG; echo 100000 > $CG/cpu.cfs_period_us; echo 10000 > $CG/cpu.cfs_quota_us; echo 10240 > $CG/cpu.shares
echo $pid > $CG/cgroup.procs
CA=/sys/fs/cgroup/cpuacct/kcatcpu-b; mkdir -p $CA; echo $pid > $CA/cgroup.procs
for i in $(seq 100); do curl -sf localhost:19201/healthz >/dev/null && break; sleep 0.1; done
$B topics --create --topic produce-acks1 --partitions 8 --bootstrap-server 127.0.0.1:19200 >/dev/null
echo broker $pid

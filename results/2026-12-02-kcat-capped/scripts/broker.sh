#!/bin/bash
# start a runnel broker on 19200 (admin 19201) with data in /tmp/kcat/data, capped in cgroup kcat-exp at $CAP cores (0 = none)
set -e
B=/work/wt/kcat/bin/runnel
rm -rf /tmp/kcat/data; mkdir -p /tmp/kcat/data
$B serve --log-level warn --override listeners=PLAINTEXT://127.0.0.1:19200 --override log.dirs=/tmp/kcat/data \
  --override runnel.admin.listener=127.0.0.1:19201 --override runnel.flush.policy=durable > /tmp/kcat/broker.log 2>&1 &
echo $! > /tmp/kcat/broker.pid
for i in $(seq 100); do curl -sf localhost:19201/healthz >/dev/null && break; sleep 0.1; done
CG=/sys/fs/cgroup/cpu/kcat-exp
if [ "${CAP:-0.1}" != 0 ]; then
  mkdir -p $CG; echo 100000 > $CG/cpu.cfs_period_us; echo $(python3 -c "print(int(${CAP:-0.1}*100000))") > $CG/cpu.cfs_quota_us
  echo 10240 > $CG/cpu.shares; echo $(cat /tmp/kcat/broker.pid) > $CG/cgroup.procs
fi
$B topics --create --topic produce-acks1 --partitions 8 --bootstrap-server 127.0.0.1:19200
echo broker $(cat /tmp/kcat/broker.pid)

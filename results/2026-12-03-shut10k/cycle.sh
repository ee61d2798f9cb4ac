#!/bin/bash
# usage: cycle.sh ROOT TAG PORT : load a 10k topic once (base binary), shut down, then
# alternate base/new restarts and shutdowns on the same data: 3 pairs. Appends to TAG.txt.
set -u
ROOT=$1; TAG=$2; PORT=$3; ADMIN=$((PORT+50))
cd /tmp/shut10k-work
OUT=$TAG; mkdir -p $OUT
D=$ROOT/shut10k-data-$TAG; rm -rf $D; mkdir -p $D
ARGS=(serve --log-level info --override listeners=PLAINTEXT://127.0.0.1:$PORT --override log.dirs=$D/data
  --override runnel.admin.listener=127.0.0.1:$ADMIN --override runnel.flush.policy=durable
  --override runnel.segment.preallocate.bytes=131072 --override log.index.size.max.bytes=65536)
now() { date +%s.%N; }
waitready() { while ! curl -sf http://127.0.0.1:$ADMIN/healthz >/dev/null 2>&1; do sleep 0.05; done; }
/tmp/shut10k-bin/runnel-base "${ARGS[@]}" >$OUT/load-serve.log 2>&1 &
PID=$!; waitready
/work/wt/shut10k/bin/runnel loadgen --bootstrap-server 127.0.0.1:$PORT --topic t10k --partitions 10000 --producers 2 --consumers 1 \
  --raw --connections 4 --in-flight 8 --batch-records 16 --acks 1 --warmup 2s --duration 10s --drain-timeout 5s \
  --quiet --json $OUT/load.json >$OUT/load.log 2>&1
T0=$(now); kill -TERM $PID; wait $PID; T1=$(now)
echo "load-shutdown(base) $(echo "$T1-$T0" | bc) $(du -sm $D/data | cut -f1)MB load=$(cut -d' ' -f1-3 /proc/loadavg)" >> $TAG.txt
for i in 1 2 3; do
  for b in base new; do
    T0=$(now); /tmp/shut10k-bin/runnel-$b "${ARGS[@]}" >$OUT/$b$i.log 2>&1 &
    PID=$!; waitready; T1=$(now); sleep 1
    T2=$(now); kill -TERM $PID; wait $PID; RC=$?; T3=$(now)
    echo "$b $i restart $(echo "$T1-$T0" | bc) shutdown $(echo "$T3-$T2" | bc) rc=$RC marker=$(ls -a $D/data | grep -c cleanshutdown) load=$(cut -d' ' -f1-3 /proc/loadavg)" >> $TAG.txt
  done
done
echo done >> $TAG.txt

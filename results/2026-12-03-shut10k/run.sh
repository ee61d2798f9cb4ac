#!/bin/bash
# usage: run.sh BIN TAG PORT [loadsecs]
# Starts BIN serve on a fresh data dir, creates+loads a 10k topic, SIGTERM -> exit time,
# restart -> ready time, SIGTERM -> exit time (idle, after restart).
set -u
BIN=$1; TAG=$2; PORT=$3; LOAD=${4:-10}
ADMIN=$((PORT+50))
D=${ROOT:-/tmp}/shut10k-data-$TAG
rm -rf $D; mkdir -p $D
OUT=/tmp/shut10k-work/$TAG; mkdir -p $OUT
ARGS=(serve --log-level ${LOGLEVEL:-warn} --override listeners=PLAINTEXT://127.0.0.1:$PORT --override log.dirs=$D/data
  --override runnel.admin.listener=127.0.0.1:$ADMIN --override runnel.flush.policy=durable
  --override runnel.segment.preallocate.bytes=131072 --override log.index.size.max.bytes=65536)
now() { date +%s.%N; }
waitready() {
  while ! curl -sf http://127.0.0.1:$ADMIN/healthz >/dev/null 2>&1; do sleep 0.05; done
}
$BIN "${ARGS[@]}" >$OUT/serve1.log 2>&1 &
PID=$!; echo $PID > $OUT/pid
waitready
L=/work/wt/shut10k/bin/runnel
$L loadgen --bootstrap-server 127.0.0.1:$PORT --topic t10k --partitions 10000 --producers 2 --consumers 1 \
  --raw --connections 4 --in-flight 8 --batch-records 16 --acks 1 --warmup 2s --duration ${LOAD}s --drain-timeout 5s \
  --quiet --json $OUT/load.json >$OUT/load.log 2>&1
sleep 1
du -sm $D/data | awk '{print "datadir_mb",$1}' > $OUT/stats
ls /proc/$PID/fd | wc -l | awk '{print "fds",$1}' >> $OUT/stats
T0=$(now); kill -TERM $PID; wait $PID; RC=$?; T1=$(now)
echo "shutdown1 $(echo "$T1-$T0" | bc) rc=$RC" | tee -a $OUT/stats
ls -a $D/data | grep -c cleanshutdown | awk '{print "marker",$1}' >> $OUT/stats
T0=$(now)
$BIN "${ARGS[@]}" >$OUT/serve2.log 2>&1 &
PID=$!; echo $PID > $OUT/pid
waitready; T1=$(now)
echo "restart $(echo "$T1-$T0" | bc)" | tee -a $OUT/stats
sleep 1
T0=$(now); kill -TERM $PID; wait $PID; RC=$?; T1=$(now)
echo "shutdown2 $(echo "$T1-$T0" | bc) rc=$RC" | tee -a $OUT/stats
rm -rf $D

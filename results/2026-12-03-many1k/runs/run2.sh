#!/bin/bash
# run1.sh BIN PARTS OUTPREFIX [PERF]: one many-partitions run (harness load) against BIN on port 19301.
BIN=$1; P=$2; OUT=$3; PERF=$4
LG=/work/wt/many1k/bin/runnel   # the same generator for both binaries
DATA=/tmp/many1k-data-$$; rm -rf $DATA; mkdir -p $DATA
case $P in
  10000) OV="--override runnel.segment.preallocate.bytes=131072 --override log.index.size.max.bytes=65536";;
  *) OV="--override runnel.segment.preallocate.bytes=4194304";;
esac
$BIN serve --log-level warn --override listeners=PLAINTEXT://127.0.0.1:19301 --override log.dirs=$DATA \
  --override runnel.admin.listener=127.0.0.1:19302 $OV > $OUT.broker.log 2>&1 &
BPID=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:19302/healthz >/dev/null && break; sleep 0.2; done
$LG topics create --bootstrap-server 127.0.0.1:19301 --topic many --partitions $P >/dev/null 2>&1
# wait for partitions ready: a short loadgen-free wait
if [ $P -ge 10000 ]; then sleep 6; else sleep 2; fi
COMMON="--bootstrap-server 127.0.0.1:19301 --topic many --partitions $P --record-size 1024 --acks 1 --idempotent=false --raw --connections 2 --in-flight 8 --batch-records 16 --warmup 3s --duration 20s --drain-timeout 10s --quiet"
c0=$(awk '{print $14+$15}' /proc/$BPID/stat)
$LG loadgen $COMMON --producers 1 --consumers 1 --json $OUT.g0.json > $OUT.g0.log 2>&1 &
G0=$!
$LG loadgen $COMMON --producers 1 --consumers 0 --json $OUT.g1.json > $OUT.g1.log 2>&1 &
G1=$!
sleep 3
c1=$(awk '{print $14+$15}' /proc/$BPID/stat); x1=$(cat /proc/$BPID/task/*/status | awk '/^voluntary_ctxt/{v+=$2} /^nonvoluntary_ctxt/{n+=$2} END{print v, n}')
if [ "$PERF" = perf ]; then perf record -g -p $BPID -o $OUT.perf.data -- sleep 10 >/dev/null 2>&1; elif [ "$PERF" = sched ]; then perf record -e sched:sched_switch -g -p $BPID -o $OUT.sched.data -- sleep 8 >/dev/null 2>&1; elif [ "$PERF" = trace ]; then timeout -s INT 8 perf trace -s -p $BPID -e pwrite64,fdatasync,syncfs,sendfile64,madvise,fadvise64 -o $OUT.trace >/dev/null 2>&1; fi
sleep 0.1
wait $G1
c2=$(awk '{print $14+$15}' /proc/$BPID/stat); x2=$(cat /proc/$BPID/task/*/status | awk '/^voluntary_ctxt/{v+=$2} /^nonvoluntary_ctxt/{n+=$2} END{print v, n}')
wait $G0
curl -s http://127.0.0.1:19302/metrics > $OUT.metrics
kill $BPID; wait $BPID
rm -rf $DATA
python3 - "$OUT" "$c1" "$c2" $x1 $x2 <<'PY'
import json,sys
out,c1,c2=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]); v1,n1,v2,n2=map(int,sys.argv[4:8])
a=json.load(open(out+".g0.json")); b=json.load(open(out+".g1.json"))
secs=a["seconds"]
pb=a["produced"]["bytes"]+b["produced"]["bytes"]; cb=a["consumed"]["bytes"]
cpu=(c2-c1)/100.0
gib=(pb+cb)/2**30
r={"prod_mbps":pb/secs/1e6,"cons_mbps":cb/secs/1e6,"cpu_s":cpu,"cpu_per_gib":cpu/gib,"secs":secs,"p99":a["produce_latency"]["p99_ms"],"vcsw_per_gib":(v2-v1)/gib,"ivcsw_per_gib":(n2-n1)/gib}
print(json.dumps(r))
json.dump(r,open(out+".sum.json","w"))
PY

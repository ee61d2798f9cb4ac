#!/bin/bash
# usage: run.sh BENCHBIN RUNNELBIN PORT LABEL [size] [dur] [gens] [extra loadgen args...]
# starts sink from BENCHBIN peer, runs GENS loadgens from RUNNELBIN, prints total MB/s and CPU
B=$1; R=$2; PORT=$3; LABEL=$4; SIZE=${5:-1024}; DUR=${6:-10s}; GENS=${7:-2}; shift 7; EXTRA="$@"
OUT=/tmp/gensink-out/$LABEL.$$; mkdir -p $OUT
$B peer --kind sink --port $PORT >$OUT/sink.log 2>&1 &
SP=$!
for i in $(seq 50); do (echo >/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
REC=${REC:-$(( 1000000 / (SIZE+16) ))}
CONN=$(( 4 / GENS )); [ $CONN -lt 1 ] && CONN=1
# create topic first
pids=()
for g in $(seq $GENS); do
  /usr/bin/time -f "%U %S" -o $OUT/time.$g $R loadgen --bootstrap-server 127.0.0.1:$PORT --topic t --partitions ${PARTS:-8} --producers 1 --consumers ${CONS:-0} \
    --record-size $SIZE --acks ${ACKS:-1} --idempotent=${IDEMP:-false} --raw --connections $CONN --in-flight ${INFL:-4} --batch-records $REC \
    --warmup 3s --duration $DUR --json $OUT/r.$g.json --quiet $EXTRA >$OUT/lg.$g.log 2>&1 &
  pids+=($!)
done
D=${DUR%s}
sleep 3.3; s0=$(awk '{print $14+$15}' /proc/$SP/stat); sleep $D; s1=$(awk '{print $14+$15}' /proc/$SP/stat)
wait ${pids[@]}
kill $SP; wait $SP 2>/dev/null
python3 - $OUT $GENS $s0 $s1 $LABEL <<'PY'
import json,sys
out,g,s0,s1,label=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]),int(sys.argv[4]),sys.argv[5]
mb=0;rps=0;gc=0;secs=0;errs=0
for i in range(1,g+1):
    r=json.load(open(f"{out}/r.{i}.json"))
    mb+=r["produced"]["mb_per_sec"]; rps+=r["produced"]["records_per_sec"]; gc+=r.get("cpu_seconds",0); secs=r["seconds"]
    errs+=len(r.get("errors") or [])
gb=mb*secs/1000
print(f"{label} MB/s {mb:.0f} rec/s {rps:.0f} sink s/GB {(s1-s0)/100/gb:.3f} gen s/GB {gc/gb:.3f} errors {errs}")
PY

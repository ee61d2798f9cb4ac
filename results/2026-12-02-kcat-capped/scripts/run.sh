#!/bin/bash
# run.sh LABEL CLIENT [kcat -X props...]   CLIENT = loadgen | kcat ; appends a line to /tmp/kcat/runs.jsonl
label=$1; client=$2; shift 2
B=/work/wt/kcat/bin/runnel
s0=$(python3 /tmp/kcat/snap.py); t0=$(date +%s.%N)
if [ $client = loadgen ]; then
  for i in 0 1; do
    $B loadgen --bootstrap-server 127.0.0.1:19200 --topic produce-acks1 --partitions 8 --producers 1 --consumers 0 --record-size 1024 \
      --linger 5ms --acks 1 --compression none --idempotent=false --warmup 2s --duration 10s --raw --connections 2 --in-flight 4 --batch-records 961 \
      --json /tmp/kcat/lg$i.json --quiet 2>/tmp/kcat/lg$i.err &
  done
  wait
  extra=$(python3 -c "import json; a=[json.load(open(f'/tmp/kcat/lg{i}.json')) for i in (0,1)]; print(json.dumps(dict(lg_mbps=sum(x['produced']['mb_per_sec'] for x in a), lg_acked=sum(x['totals']['acked'] for x in a))))" 2>&1)
else
  for i in 0 1; do
    /usr/bin/time -f '%M %U %S' -o /tmp/kcat/kc$i.time kcat -P -b 127.0.0.1:19200 -t produce-acks1 -l "$@" /tmp/kcat/records > /tmp/kcat/kc$i.out 2>/tmp/kcat/kc$i.err &
  done
  wait
  extra=$(python3 -c "import json; print(json.dumps(dict(kcat_cpu=sum(sum(map(float,open(f'/tmp/kcat/kc{i}.time').read().split()[-2:])) for i in (0,1)), kcat_err=sum(1 for i in (0,1) for l in open(f'/tmp/kcat/kc{i}.err')))))")
fi
t1=$(date +%s.%N)
sleep 1.5
s1=$(python3 /tmp/kcat/snap.py)
python3 - "$label" "$client" "$t0" "$t1" "$s0" "$s1" "$extra" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY' | tee -a /tmp/kcat/runs.jsonl
import json, sys
label, client, t0, t1, s0, s1, extra, load = sys.argv[1:]
s0, s1, extra = json.loads(s0), json.loads(s1), json.loads(extra)
wall = float(t1) - float(t0)
d = lambda k: s1[k] - s0[k]
recs = d('eo'); gib = recs * 1024 / 2**30
cpu = d('user') + d('sys')
r = dict(label=label, client=client, wall=round(wall,2), records=recs, produce=d('produce'), rec_per_req=round(recs/max(1,d('produce')),0),
  cpu=round(cpu,2), user=round(d('user'),2), sys=round(d('sys'),2), cpu_per_gib=round(cpu/gib,2) if gib else None,
  mbps_wall=round(recs*1024/1e6/wall,1), cached_gb=round(s1['cached_kb']/2**20,2), free_gb=round(s1['memfree_kb']/2**20,2),
  throttled=round((s1['thr'].get('nr_throttled',0)-s0['thr'].get('nr_throttled',0))/max(1,s1['thr'].get('nr_periods',0)-s0['thr'].get('nr_periods',0)),2),
  heap_sys_mb=round(s1.get('go_memstats_heap_sys_bytes',0)/1e6), rss_anon_mb=round(s1.get('runnel_process_rss_anon_bytes',0)/1e6), gcs=d('go_gc_duration_seconds_count'), load=load, **extra)
print(json.dumps(r))
PY

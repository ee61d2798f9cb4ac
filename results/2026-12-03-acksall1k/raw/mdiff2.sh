#!/bin/bash
# mdiff2.sh NAME PID-INDEX: per-broker (pid) rates over its middle scrapes
f=$1/metrics.txt
for pid in $(awk '{print $2}' $f | uniq); do
  grep " $pid " $f > /tmp/acksall1k-runs/.m
  n=$(wc -l < /tmp/acksall1k-runs/.m); [ $n -lt 6 ] && continue
  a=$(sed -n 3p /tmp/acksall1k-runs/.m); b=$(sed -n "$((n-1))p" /tmp/acksall1k-runs/.m)
python3 - "$a" "$b" <<'PY'
import sys
def p(s):
    t=float(s.split()[0]); d={}
    toks=s.split()[2:]
    for i in range(0,len(toks)-1,2): d[toks[i]]=float(toks[i+1])
    return t,d
ta,a=p(sys.argv[1]); tb,b=p(sys.argv[2]); dt=tb-ta
g=lambda k:(b.get(k,0)-a.get(k,0))
syncs=g('runnel_fsync_duration_seconds_count'); w=g('runnel_fsync_waiters_sum'); ds=g('runnel_fsync_duration_seconds_sum')
req=g('runnel_produce_stage_seconds_count{stage="sync_wait"}')
st={s:1000*g('runnel_produce_stage_seconds_sum{stage="%s"}'%s)/max(req,1) for s in ['queue','decode','append','sync_wait','respond']}
rd=[k for k in b if k.startswith('runnel_request_duration_seconds_sum')]
rq=1000*g(rd[0])/max(req,1) if rd else 0
cpu=g('process_cpu_seconds_total')
print(f"dt={dt:.0f}s req/s={req/dt:.0f} MB/s~{req/dt*0.984:.0f} syncs/s={syncs/dt:.0f} waiters/sync={w/max(syncs,1):.2f} sync_ms={1000*ds/max(syncs,1):.2f} conc={ds/dt:.1f} broker_ms={rq:.2f} "+" ".join(f"{k}={v:.2f}" for k,v in st.items())+f" cpu={cpu/dt:.2f}")
PY
done

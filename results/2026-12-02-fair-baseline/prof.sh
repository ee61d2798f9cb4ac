#!/bin/bash
# pwrite and fadvise seconds per GiB from each run's CPU profile
cd /tmp/fairbase/ab
for r in main-1 drop-1 main-2 drop-2 main-3 drop-3 main-4 drop-4 main-5 drop-5 main-6 drop-6 main-7 drop-7; do
  [ -d $r ] || continue
  for sc in produce-acksall produce-acksall-many; do
    mbps=$(python3 -c "
import json;j=json.load(open('$r/results.json'))
print([x['result']['produced']['mb_per_sec'] for x in j['runs'] if x['scenario']=='$sc' and x['target']=='runnel'][0])")
    pw=$(go tool pprof -top -focus='Pwrite' $r/profiles/$sc-cpu.pprof 2>/dev/null | grep -E '^Showing nodes' | awk '{print $5}')
    fa=$(go tool pprof -top -focus='Fadvise' $r/profiles/$sc-cpu.pprof 2>/dev/null | grep -E '^Showing nodes' | awk '{print $5}')
    tot=$(go tool pprof -top $r/profiles/$sc-cpu.pprof 2>/dev/null | grep -E '^Duration' | sed 's/.*Total samples = \([0-9.]*m\?s\).*/\1/')
    python3 - "$r" "$sc" "$mbps" "$pw" "${fa:-0s}" "$tot" <<'PY'
import sys
def sec(x):
    x=x.rstrip(',')
    if x.endswith('ms'): return float(x[:-2])/1000
    if x.endswith('s'): return float(x[:-1])
    return float(x)
r,sc,mbps,pw,fa,tot=sys.argv[1:]
gib=float(mbps)*1e6*20/2**30
print(f"{r:7s} {sc:22s} {float(mbps):5.0f} MB/s  profile {sec(tot)/gib:.2f} s/GiB  pwrite {sec(pw)/gib:.2f} s/GiB  fadvise {sec(fa)/gib:.2f} s/GiB")
PY
  done
done

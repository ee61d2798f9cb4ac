import json,sys,glob,statistics as stt,os
base=sys.argv[1]
arms={}
for d in sorted(glob.glob(base+'/[BN][BN]-[0-9]')):
    if os.path.exists(d+'/results.json'):
        arms.setdefault(os.path.basename(d).split('-')[0],[]).append(d)
scs=['latency-floor-1k','latency-floor-1k-raw','latency-floor-10k','latency-floor-10k-raw']
def med(l):
    l=[x for x in l if x==x]
    return stt.median(l) if l else float('nan')
print("| scenario | arm | runs | Runnel p50 / p99 / p99.9 (ms) | floor p50 / p99 / p99.9 (ms) | ratio p50 / p99 / p99.9 | send delay p50, Runnel / floor | broker p50 | sync_wait ÷ fsync p50 | respond p50 | floor fdatasync p50 |")
print("|---|---|---:|---|---|---|---|---:|---:|---:|---:|")
for sc in scs:
  for arm in ['BB','NN']:
    rows=[]
    for d in arms.get(arm,[]):
        j=json.load(open(d+'/results.json'))
        by={(r['scenario'],r['target']):r for r in j['runs']}
        ru=by.get((sc,'runnel')); fl=by.get((sc,'disk-floor'))
        if not ru or not fl or not ru.get('result') or not fl.get('result'): continue
        a=ru['result']['produce_latency']; b=fl['result']['produce_latency']
        st={x['stage']:x['p50_ms'] for x in (ru.get('stages') or {}).get('quantiles',[])}
        fst={x['stage']:x['p50_ms'] for x in (fl.get('stages') or {}).get('quantiles',[])}
        nan=float('nan')
        rows.append([a['p50_ms'],a['p99_ms'],a['p99_9_ms'],b['p50_ms'],b['p99_ms'],b['p99_9_ms'],
            a['p50_ms']/b['p50_ms'],a['p99_ms']/b['p99_ms'],a['p99_9_ms']/b['p99_9_ms'],
            ru['result']['send_delay']['p50_ms'],fl['result']['send_delay']['p50_ms'],
            st.get('broker',nan),st.get('sync_wait',nan)/st.get('fsync',nan),st.get('respond',nan),fst.get('fsync',nan)])
    if not rows: continue
    m=[med([r[i] for r in rows]) for i in range(len(rows[0]))]
    f=lambda x,p=2: '—' if x!=x else f"{x:.{p}f}"
    print(f"| {sc} | {arm} | {len(rows)} | {f(m[0])} / {f(m[1],1)} / {f(m[2],1)} | {f(m[3])} / {f(m[4],1)} / {f(m[5],1)} | {f(m[6])}× / {f(m[7])}× / {f(m[8])}× | {f(m[9],3)} / {f(m[10],3)} | {f(m[11],3)} | {f(m[12])} | {f(m[13],3)} | {f(m[14],3)} |")

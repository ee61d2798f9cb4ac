import json,sys
for path in sys.argv[1:]:
    d=json.load(open(path+'/results.json'))
    print('==',path,'load',d.get('load_start'),d.get('load_end'))
    by={}
    for r in d['runs']:
        by[(r['scenario'],r['target'])]=r
    for sc in ['latency-floor-1k','latency-floor-1k-raw','latency-floor-10k','latency-floor-10k-raw']:
        ru=by.get((sc,'runnel')); fl=by.get((sc,'disk-floor'))
        if not ru or not fl or not ru.get('result') or not fl.get('result'): continue
        a=ru['result']['produce_latency']; b=fl['result']['produce_latency']
        sa=ru['result']['send_delay']; sb=fl['result']['send_delay']
        print(f"{sc:24s} runnel p50 {a['p50_ms']:.3f} p99 {a['p99_ms']:.2f} p999 {a['p99_9_ms']:.2f} | floor p50 {b['p50_ms']:.3f} p99 {b['p99_ms']:.2f} p999 {b['p99_9_ms']:.2f} | ratio {a['p50_ms']/b['p50_ms']:.2f} {a['p99_ms']/b['p99_ms']:.2f} {a['p99_9_ms']/b['p99_9_ms']:.2f} | senddelay p50 r {sa['p50_ms']:.3f} f {sb['p50_ms']:.3f}")
        st=ru.get('stages') or {}
        q={x['stage']:(x['p50_ms'],x['p99_ms']) for x in st.get('quantiles',[])}
        fst=fl.get('stages') or {}
        fq={x['stage']:(x['p50_ms'],x['p99_ms']) for x in fst.get('quantiles',[])}
        print('    stages p50/p99:', ' '.join(f"{k}={v[0]:.3f}/{v[1]:.2f}" for k,v in q.items()), f"wps={st.get('waiters_per_sync',0):.2f} brokermean={st.get('broker_ms',0):.3f} syncmean={st.get('sync_ms',0):.3f}", ('floor fsync=%.3f/%.2f'%fq['fsync']) if 'fsync' in fq else '')

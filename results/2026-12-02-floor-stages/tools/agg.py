import json,sys,glob,statistics as stt,os
base=sys.argv[1] if len(sys.argv)>1 and not sys.argv[1].startswith('-') else '/tmp/floor2/runs'
runs=sorted(glob.glob(base+'/[BN][BN]-[0-9]'))
arms={}
for d in runs:
    if not os.path.exists(d+'/results.json'): continue
    arm=os.path.basename(d).split('-')[0]
    arms.setdefault(arm,[]).append(d)
scs=['latency-floor-1k','latency-floor-1k-raw','latency-floor-10k','latency-floor-10k-raw']
def med(l): return stt.median(l) if l else float('nan')
for arm in ['BB','NB','NN']:
    ds=arms.get(arm,[])
    print(f"### arm {arm}: {len(ds)} runs: {' '.join(os.path.basename(x) for x in ds)}")
    for sc in scs:
        rows=[]
        for d in ds:
            j=json.load(open(d+'/results.json'))
            by={(r['scenario'],r['target']):r for r in j['runs']}
            ru=by.get((sc,'runnel')); fl=by.get((sc,'disk-floor'))
            if not ru or not fl or not ru.get('result') or not fl.get('result'): continue
            a=ru['result']['produce_latency']; b=fl['result']['produce_latency']
            st={x['stage']:x for x in (ru.get('stages') or {}).get('quantiles',[])}
            fst={x['stage']:x for x in (fl.get('stages') or {}).get('quantiles',[])}
            rows.append(dict(rp50=a['p50_ms'],rp99=a['p99_ms'],rp999=a['p99_9_ms'],fp50=b['p50_ms'],fp99=b['p99_ms'],fp999=b['p99_9_ms'],
              r50=a['p50_ms']/b['p50_ms'],r99=a['p99_ms']/b['p99_ms'],r999=a['p99_9_ms']/b['p99_9_ms'],
              rsd=ru['result']['send_delay']['p50_ms'],fsd=fl['result']['send_delay']['p50_ms'],
              broker=st.get('broker',{}).get('p50_ms',float('nan')),fsync=st.get('fsync',{}).get('p50_ms',float('nan')),
              syncwait=st.get('sync_wait',{}).get('p50_ms',float('nan')),respond=st.get('respond',{}).get('p50_ms',float('nan')),
              queue=st.get('queue',{}).get('p50_ms',float('nan')),append=st.get('append',{}).get('p50_ms',float('nan')),
              ffsync=fst.get('fsync',{}).get('p50_ms',float('nan')),
              wps=(ru.get('stages') or {}).get('waiters_per_sync',float('nan')),
              bmean=(ru.get('stages') or {}).get('broker_ms',float('nan')),cmean=a['mean_ms'],
              bf=st.get('broker',{}).get('p50_ms',float('nan'))/st.get('fsync',{}).get('p50_ms',float('nan')),
              sf=st.get('sync_wait',{}).get('p50_ms',float('nan'))/st.get('fsync',{}).get('p50_ms',float('nan'))))
        if not rows: continue
        m={k:med([r[k] for r in rows]) for k in rows[0]}
        print(f"{sc:22s} n={len(rows)} runnel p50/p99/p99.9 {m['rp50']:.3f}/{m['rp99']:.2f}/{m['rp999']:.2f}  floor {m['fp50']:.3f}/{m['fp99']:.2f}/{m['fp999']:.2f}  ratio(med of per-run) {m['r50']:.2f}/{m['r99']:.2f}/{m['r999']:.2f}  senddelay p50 runnel {m['rsd']:.3f} floor {m['fsd']:.3f}")
        print(f"{'':22s} broker stages p50 (ms): queue {m['queue']:.3f} append {m['append']:.3f} sync_wait {m['syncwait']:.3f} respond {m['respond']:.3f} broker {m['broker']:.3f} fsync {m['fsync']:.3f} | floor fdatasync {m['ffsync']:.3f} | waiters/sync {m['wps']:.2f} | client mean {m['cmean']:.2f} broker mean {m['bmean']:.2f} | broker/fsync p50 {m['bf']:.2f} sync_wait/fsync {m['sf']:.2f}")
        if '-v' in sys.argv:
            for r in rows: print('      ', ' '.join(f"{k}={v:.3f}" for k,v in r.items()))

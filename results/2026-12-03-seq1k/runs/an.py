import json,sys
for d in sys.argv[1:]:
    try: r=json.load(open(d+'/results.json'))
    except Exception as e: print(d, 'no results', e); continue
    print('==',d,'load',r['load_start'],r['load_end'])
    for run in r['runs']:
        if run['target'] not in ('runnel',): continue
        res=run.get('result') or {}
        mb=(res.get('produced') or {}).get('mb_per_sec',0)
        st=run.get('settle') or {}
        dl=run.get('disk_load')
        disc=(dl[1]['discard_sectors']-dl[0]['discard_sectors'])*512/2**20 if dl else -1
        dms=(dl[1]['discard_ms']-dl[0]['discard_ms']) if dl else -1
        sg=run.get('stages') or {}
        q={x['stage']:x for x in sg.get('quantiles',[])}
        b=st.get('before',{})
        print(f"{run['scenario']:28s} {mb:7.1f} MB/s cpu/GiB {run.get('cpu_seconds_per_gib',0):.2f} | start dirty {b.get('dirty_kib')}K wb {b.get('writeback_kib')}K free {b.get('free_bytes',0)/2**30:.1f}G sync {st.get('sync_seconds',0):.2f}s wait {st.get('wait_seconds',0):.2f}s | load-window discard {disc:.0f} MiB {dms} ms | syncs {sg.get('syncs')} fsync p50 {q.get('fsync',{}).get('p50_ms',0):.2f}")

import json,sys
print("| run | arm | 1-min load at start | 8 partitions MB/s | 1,000 MB/s | 1,000 ÷ 8 | 1,000: fdatasync / syncfs-group CPU (s) | 1,000: fsync p50 (ms) | 1,000: syncs (per request) | 1,000: discards in the load window (MiB) | 1,000: settle syncfs + wait (s) |")
print("|---|---|---:|---:|---:|---:|---|---:|---|---:|---|")
for spec in sys.argv[1:]:
    d,arm=spec.split('=',1)
    r=json.load(open('/tmp/seq1k-runs/'+d+'/results.json'))
    m={run['scenario']:run for run in r['runs'] if run['target']=='runnel'}
    a,b=m['many-partitions-8'],m['many-partitions']
    mb=lambda x:x['result']['produced']['mb_per_sec']
    p=b.get('partitions') or {}
    st=b.get('stages') or {}
    q={x['stage']:x for x in st.get('quantiles',[])}
    dl=b.get('disk_load')
    disc=f"{(dl[1]['discard_sectors']-dl[0]['discard_sectors'])*512/2**20:.0f}" if dl else "—"
    s=b.get('settle') or {}
    sw="skipped" if s.get('skipped') else f"{s.get('sync_seconds',0):.2f} + {s.get('wait_seconds',0):.2f}"
    one=p.get('sync_one_seconds'); grp=p.get('sync_group_seconds')
    sp=f"{one or 0:.2f} / {grp or 0:.2f}" if (one is not None or grp is not None) and 'sync_one_seconds' in p or 'sync_group_seconds' in p else "—"
    if sp=="—":
        import subprocess
        out=subprocess.run(['go','tool','pprof','-top','-cum','-nodecount=1000','/tmp/seq1k-runs/'+d+'/profiles/many-partitions-cpu.pprof'],capture_output=True,text=True).stdout
        def cum(fn):
            for line in out.splitlines():
                if line.rstrip().endswith(fn):
                    v=line.split()[3]
                    return float(v[:-2])/1000 if v.endswith('ms') else float(v[:-1])
            return 0.0
        sp=f"{cum('runnel/segment.(*Log).Sync'):.2f} / {cum('runnel/io/flush.(*Flusher).syncGroup'):.2f}"
    print(f"| {d} | {arm} | {r['load_start'][0]:.1f} | {mb(a):.1f} | {mb(b):.1f} | {mb(b)/mb(a):.2f} | {sp} | {q.get('fsync',{}).get('p50_ms',0):.1f} | {st.get('syncs')} ({st.get('syncs',0)/max(1,st.get('produce_requests',1)):.2f}) | {disc} | {sw} |")

import json,sys
for d in sys.argv[1:]:
    r=json.load(open(d+'/results.json'))
    for run in r['runs']:
        res=run.get('result') or {}
        if not res: continue
        p=res['produced']; pl=res['produce_latency']; e=res.get('end_to_end_latency') or {}
        print("%-6s %-22s %-10s MB/s %7.1f p50 %6.2f p99 %7.2f p99.9 %7.2f e2e99 %7.2f cpu/GiB %6.2f"%(d.split('h-')[-1],run['scenario'],run['target'],p['mb_per_sec'],pl['p50_ms'],pl['p99_ms'],pl['p99_9_ms'],e.get('p99_ms',0),run.get('cpu_seconds_per_gib',0)))

import json,glob,os
out={}
for d in sorted(glob.glob('/tmp/seq1k-runs/[ABFG][0-9]')):
    try: r=json.load(open(d+'/results.json'))
    except Exception: continue
    runs={}
    for run in r['runs']:
        if run['target']!='runnel' or not run.get('result'): continue
        res=run['result']
        runs[run['scenario']]={k:v for k,v in {
            'produced_mb_per_sec':res['produced']['mb_per_sec'],
            'consumed_mb_per_sec':res['consumed']['mb_per_sec'],
            'cpu_seconds_per_gib':run.get('cpu_seconds_per_gib'),
            'broker_cpu_seconds':run.get('broker_cpu_seconds'),
            'stages':run.get('stages'),
            'partitions':run.get('partitions'),
            'settle':run.get('settle'),
            'disk_load':run.get('disk_load')}.items() if v is not None}
    out[os.path.basename(d)]={'command':r['command'],'load_start':r['load_start'],'load_end':r['load_end'],'started':r['started'],'runs':runs}
json.dump(out,open('/work/wt/seq1k/results/2026-12-03-seq1k/summary.json','w'),indent=1)

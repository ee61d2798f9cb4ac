import json,os
rows=[]
for r in ['main-1','drop-1','main-2','drop-2','main-3','drop-3','main-4','drop-4','main-5','drop-5','main-6','drop-6','main-7','drop-7']:
    p=f'/tmp/fairbase/ab/{r}/results.json'
    if not os.path.exists(p): continue
    j=json.load(open(p)); b=j['baselines']
    res={x['scenario']:x for x in j['runs'] if x['target']=='runnel' and x.get('result')}
    a=res['produce-acksall']; m=res['produce-acksall-many']
    am=a['result']['produced']['mb_per_sec']; mm=m['result']['produced']['mb_per_sec']
    s=b['sustained_write_mb_per_sec']; k=b['sustained_write_kept_mb_per_sec']
    print(f"| {r} | {j['load_start'][0]:.0f}–{j['load_end'][0]:.0f} | {b['mem_free_bytes']>>30} | {s:.0f} ({b['sustained_write_cpu_s_per_gib']:.2f}) | {k:.0f} ({b['sustained_write_kept_cpu_s_per_gib']:.2f}) | {b['ingest_ceiling_mb_per_sec']:.0f} ({b['ingest_ceiling_cpu_s_per_gib']:.2f}) | {b['ingest_ceiling_kept_mb_per_sec']:.0f} ({b['ingest_ceiling_kept_cpu_s_per_gib']:.2f}) | {b['direct_write_mb_per_sec']:.0f} ({b['direct_write_cpu_s_per_gib']:.2f}) | {am:.0f} ({a['cpu_seconds_per_gib']:.2f}) | {am/s:.2f}× / {am/k:.2f}× | {mm:.0f} ({m['cpu_seconds_per_gib']:.2f}) | {mm/s:.2f}× / {mm/k:.2f}× |")

import json,sys,glob,os
for d in sorted(glob.glob('/tmp/fairbase/ab/*-*/results.json'), key=os.path.getmtime):
    j=json.load(open(d)); b=j['baselines']
    out=[os.path.basename(os.path.dirname(d)), 'load %.1f/%.1f'%(j['load_start'][0], j['load_end'][0])]
    out.append('sust %.0f (%.2f) kept %.0f (%.2f) ingest %.0f (%.2f) kept %.0f (%.2f) direct %.0f'%(b['sustained_write_mb_per_sec'],b['sustained_write_cpu_s_per_gib'],b.get('sustained_write_kept_mb_per_sec',0),b.get('sustained_write_kept_cpu_s_per_gib',0),b['ingest_ceiling_mb_per_sec'],b['ingest_ceiling_cpu_s_per_gib'],b.get('ingest_ceiling_kept_mb_per_sec',0),b.get('ingest_ceiling_kept_cpu_s_per_gib',0),b['direct_write_mb_per_sec']))
    for r in j['runs']:
        if r['target']=='runnel' and r.get('result'):
            out.append('%s %.0f MB/s %.2f s/GiB'%(r['scenario'].replace('produce-',''), r['result']['produced']['mb_per_sec'], r.get('cpu_seconds_per_gib',0)))
    print(' | '.join(out))

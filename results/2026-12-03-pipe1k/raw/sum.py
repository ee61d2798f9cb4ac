import json,sys,glob,os
# usage: pipe1k-sum.py tag
tag=sys.argv[1]
rows={}
for d in sorted(glob.glob('/tmp/pipe1k-out/%s-*-?'%tag)):
    f=d+'/results.json'
    if not os.path.exists(f): continue
    j=json.load(open(f))
    b=j['baselines']; sus=b['sustained_write_mb_per_sec']
    for r in j['runs']:
        if r['target']!='runnel': continue
        res=r['result']; st=r.get('stages') or {}
        mb=res['produced']['mb_per_sec']
        req_s=res['produced']['records_per_sec']/res['config']['batch_records']
        lat=res['produce_latency'].get('mean_ms',0)
        secs=st.get('seconds') or 0
        inb=st['produce_requests']/secs*st['broker_ms']/1000 if secs else 0
        syn=st['syncs']/secs*st['sync_ms']/1000 if secs else 0
        raw=res.get('raw')
        rs=''
        if raw:
            rs='send: slotwait %.2f write %.2f other %.2f of sender time; write/req %.1f ms'%(raw['slot_wait_seconds']/raw['sender_seconds'],raw['write_seconds']/raw['sender_seconds'],1-(raw['slot_wait_seconds']+raw['write_seconds'])/raw['sender_seconds'],raw['write_seconds']/raw['requests']*1000)
        print('%-22s %-22s MB/s %7.1f disk %6.1f ratio %.3f | client-window %.1f in-broker %.1f syncs %.1f | load %s %s'%(os.path.basename(d),r['scenario'],mb,sus,mb/sus,req_s*lat/1000,inb,syn,j['load_start'][0],rs))
        rows[(os.path.basename(d),r['scenario'])]=mb/sus
# pairs
import re
keys=sorted(rows)
for (d,sc),v in sorted(rows.items()):
    m=re.match(r'(.*)-(\d+)-A$',d)
    if m:
        bk=('%s-%s-B'%(m.group(1),m.group(2)),sc)
        if bk in rows: print('pair %s %s: B/A (ratio to disk) = %.3f'%(m.group(2),sc,rows[bk]/v))

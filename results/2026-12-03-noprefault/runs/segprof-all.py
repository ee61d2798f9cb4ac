# per-function CPU (cum, s per GiB moved) of selected runnel/segment functions, per arm, each pair's run listed
import json,subprocess,re,glob
FUN=['runnel/segment.(*Log).append','runnel/segment.(*segment).write','runnel/segment.(*prefaulter).run','runnel/segment.(*segment).updateIndexes',
     'runnel/segment.(*Log).releaseSynced','runnel/segment.(*segment).releaseSynced','runnel/segment.(*Log).dropSyncedLocked',
     'runnel/segment.(*Log).Read','runnel/segment.(*Log).Sync','runnel/segment.(*Log).PrepareSync.func2','runnel/segment.(*LogDir).SyncAll','runnel/segment.(*segment).extend']
res={}
for arm,binary in [('base','/tmp/noprefault-bin/runnel-base'),('new','/tmp/noprefault-bin/runnel-new')]:
    for f in sorted(glob.glob(f'/tmp/noprefault-runs/many-partitions-{arm}-[123]/results.json')):
        d=json.load(open(f))
        for r in d['runs']:
            if r['target']!='runnel': continue
            sc=r['scenario']; moved=(r['result']['produced']['bytes']+r['result']['consumed']['bytes'])/2**30
            out=subprocess.run(['go','tool','pprof','-top','-cum','-nodecount=1000',binary,r['cpu']['file']],capture_output=True,text=True,cwd='/work/wt/noprefault').stdout
            tot=r['broker_cpu_seconds']/moved
            res.setdefault((arm,sc,'broker total'),[]).append(tot)
            found={}
            for line in out.splitlines():
                m=re.match(r'\s*([\d.]+)(m?s)?\s+[\d.]+%\s+[\d.]+%\s+([\d.]+)(m?s)\s+[\d.]+%\s+(\S+)',line)
                if m and m.group(5) in FUN:
                    found[m.group(5)]=float(m.group(3))*(0.001 if m.group(4)=='ms' else 1)/moved
            for fn in FUN: res.setdefault((arm,sc,fn),[]).append(found.get(fn,0.0))
scs=['many-partitions-8','many-partitions','many-partitions-10k']
print('| function (s per GiB moved, pairs 1/2/3) | arm | 8 | 1,000 | 10,000 |')
print('|---|---|---|---|---|')
for fn in ['broker total']+FUN:
    for arm in ['base','new']:
        cells=[' / '.join(f'{x:.2f}' for x in res.get((arm,s,fn),[])) for s in scs]
        if all(c.replace('0.00','').replace(' / ','')=='' for c in cells): continue
        print(f'| `{fn.replace("runnel/segment.","")}` | {arm} | '+' | '.join(cells)+' |')

# paired ratios new ÷ base per scenario, and the 1,000 ÷ 8 and 10,000 ÷ 8 ratios per binary
import json,sys,glob,os,re
prefix=sys.argv[1]  # e.g. many-partitions or produce-acksall-many
runs={}
for f in sorted(glob.glob(f'/tmp/noprefault-runs/{prefix}-*-*/results.json')):
    m=re.search(rf'/{re.escape(prefix)}-(base|new|fix)-(\d+)/results.json',f)
    if not m: continue
    d=json.load(open(f))
    for r in d['runs']:
        if r['target']!='runnel': continue
        runs[(m.group(1),int(m.group(2)),r['scenario'])]=(r['result']['produced']['mb_per_sec'],r['cpu_seconds_per_gib'],d['load_start'][0],d['load_end'][0])
scs=sorted({k[2] for k in runs},key=lambda s:{'many-partitions-8':0,'many-partitions':1,'many-partitions-10k':2}.get(s,3))
pairs=sorted({k[1] for k in runs})
print('| scenario | pair | base MB/s, CPU s/GiB | new MB/s, CPU s/GiB | new ÷ base MB/s | new ÷ base CPU s/GiB | load (1-min, start/end base; new) |')
print('|---|---|---|---|---|---|---|')
for s in scs:
    for i in pairs:
        b=runs.get(('base',i,s)); n=runs.get(('new',i,s)) or runs.get(('fix',i,s))
        if not b or not n: continue
        arm2='new' if runs.get(('new',i,s)) else 'fix'
        print(f'| {s} | {i}{"" if arm2=="new" else " (fix)"} | {b[0]:.1f}, {b[1]:.2f} | {n[0]:.1f}, {n[1]:.2f} | **{n[0]/b[0]:.2f}** | **{n[1]/b[1]:.2f}** | {b[2]:.1f}/{b[3]:.1f}; {n[2]:.1f}/{n[3]:.1f} |')
if 'many-partitions-8' in scs:
    print()
    print('| ratio | pair | base MB/s | new MB/s | base CPU s/GiB | new CPU s/GiB |')
    print('|---|---|---|---|---|---|')
    for s in ['many-partitions','many-partitions-10k']:
        for i in pairs:
            row=[]
            ok=True
            for arm in ['base','new' if runs.get(('new',i,s)) else 'fix']:
                a=runs.get((arm,i,s)); e=runs.get((arm,i,'many-partitions-8'))
                if not a or not e: ok=False; break
                row.append((a[0]/e[0],a[1]/e[1]))
            if ok:
                name={'many-partitions':'1,000 ÷ 8','many-partitions-10k':'10,000 ÷ 8'}[s]
                print(f'| {name} | {i} | {row[0][0]:.2f} | {row[1][0]:.2f} | {row[0][1]:.2f} | {row[1][1]:.2f} |')

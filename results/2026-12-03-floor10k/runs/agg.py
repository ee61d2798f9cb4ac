import re,sys,glob,statistics as st
def parse(d):
    r={}
    txt=open(d+'/report.md').read()
    for sc in ['latency-floor-10k','latency-floor-10k-raw','latency-floor-1k','latency-floor-1k-raw']:
        for q in ['p50','p99','p99.9']:
            m=re.search(r'\| %s produce at \d+ rec/s %s \| ([\d.]+) ms \| pwrite\+fdatasync %s, same rate \| ([\d.]+) ms \| ([\d.]+)×'%(re.escape(sc),re.escape(q),re.escape(q)),txt)
            if m: r[(sc,q)]=(float(m.group(1)),float(m.group(2)),float(m.group(3)))
    syncs=re.findall(r'\| one sync \(fdatasync of a log\), per sync \| (\d+) \| ([\d.]+) \| ([\d.]+) \|',txt)
    floors=re.findall(r'\| disk floor: one sync \(fdatasync of a log\), per sync \(exact, not bucketed\) \| (\d+) \| ([\d.]+) \| ([\d.]+) \|',txt)
    r['sync']=syncs; r['floorsync']=floors
    try:
        xs=sorted(float(m.group(1)) for m in (re.search(r'\(\s*([\d.]+) ms\): \S+ fdatasync',l) for l in open(d+'/trace.txt')) if m)
        c,b=open(d+'/bio.txt').read().split()[1:]
        r["trace"]=(len(xs),xs[len(xs)//2],float(b)/len(xs)/1024, float(b)/10/1e6)
    except Exception as e: pass
    r['load']=open(d+'/load.txt').read().split('load average: ')[1].split(',')[0]
    return r
arms=sys.argv[1:3]; prefix=sys.argv[3] if len(sys.argv)>3 else 'ab'
pairs=[]
i=1
while glob.glob(f'{prefix}-{arms[0]}-{i}/report.md') and glob.glob(f'{prefix}-{arms[1]}-{i}/report.md'):
    pairs.append((parse(f'{prefix}-{arms[0]}-{i}'),parse(f'{prefix}-{arms[1]}-{i}'))); i+=1
for k,(a,b) in enumerate(pairs,1):
    for name,r in ((arms[0],a),(arms[1],b)):
        line=f"pair {k} {name:5s} load {r['load']:>6s} "
        for key in sorted(k2 for k2 in r if isinstance(k2,tuple)):
            line+=f"| {key[0][14:] or 'x'} {key[1]} {r[key][0]}/{r[key][1]}={r[key][2]} "
        line+=f"| broker sync p50 {[s[1] for s in r['sync']]} floor sync p50 {[s[1] for s in r['floorsync']]}"
        if 'trace' in r: line+=f" | traced fdatasyncs {r['trace'][0]} p50 {r['trace'][1]:.3f} ms, {r['trace'][2]:.0f} KiB written/sync, {r['trace'][3]:.1f} MB/s"
        print(line)
keys=sorted(k2 for k2 in pairs[0][0] if isinstance(k2,tuple)) if pairs else []
print("paired (%s ratio-to-floor) / (%s ratio-to-floor), per pair, and median:"%(arms[1],arms[0]))
for key in keys:
    v=[b[key][2]/a[key][2] for a,b in pairs if key in a and key in b]
    print(f"  {key[0]} {key[1]}: "+" ".join(f"{x:.2f}" for x in v)+f"  median {st.median(v):.2f}")
v=[b['trace'][1]/a['trace'][1] for a,b in pairs if 'trace' in a and 'trace' in b]
if v: print("  traced fdatasync p50 (10k, franz-go):", " ".join(f"{x:.2f}" for x in v), f"median {st.median(v):.2f}")
v=[b['trace'][2]/a['trace'][2] for a,b in pairs if 'trace' in a and 'trace' in b]
if v: print("  bytes written per fdatasync:", " ".join(f"{x:.3f}" for x in v), f"median {st.median(v):.3f}")
for j in range(2):
  v=[float(b['sync'][j][1])/float(a['sync'][j][1]) for a,b in pairs if len(a['sync'])>j and len(b['sync'])>j]
  if v: print(f"  broker one-sync p50 (scenario {j}):", " ".join(f"{x:.2f}" for x in v), f"median {st.median(v):.2f}")
  v=[(float(b['sync'][j][1])/float(b['floorsync'][j][1]))/(float(a['sync'][j][1])/float(a['floorsync'][j][1])) for a,b in pairs if len(a['sync'])>j and len(b['sync'])>j]
  if v: print(f"  (broker one-sync p50 / same-run floor one-sync p50), {arms[1]}/{arms[0]} (scenario {j}):", " ".join(f"{x:.2f}" for x in v), f"median {st.median(v):.2f}")

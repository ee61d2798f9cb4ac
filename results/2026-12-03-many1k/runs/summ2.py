import json,sys,glob,re,statistics
d=sys.argv[1]
log=open(d+'/log').read().splitlines()
loads={}
for l in log:
    m=re.match(r'pair (\d+) P=(\d+) (\w+) load (\S+) (\S+) (\S+)',l)
    if m: loads[(m.group(1),m.group(2),m.group(3))]=m.group(4)
rows={}
for f in sorted(glob.glob(d+'/p*-*-*.sum.json')):
    m=re.search(r'/p(\d+)-(\d+)-(\w+)\.sum\.json',f)
    rows[(m.group(1),m.group(2),m.group(3))]=json.load(open(f))
cs='vcsw_per_gib' in next(iter(rows.values()))
hdr="| partitions | pair | load base / new | produce MB/s base / new | ratio | consume MB/s base / new | CPU s/GiB base / new | ratio |"
sep="|---:|---:|---|---|---:|---|---|---:|"
if cs: hdr+=" ctx switches/GiB (vol + invol) base / new | ratio |"; sep+="---|---:|"
print(hdr); print(sep)
for P in ['8','1000','10000']:
    pr=[];cr=[];xr=[]
    for i in ['1','2','3','4','5','6']:
        b=rows.get((i,P,'base')); n=rows.get((i,P,'new'))
        if not b or not n: continue
        r=n['prod_mbps']/b['prod_mbps']; c=n['cpu_per_gib']/b['cpu_per_gib']
        pr.append(r); cr.append(c)
        line=f"| {P} | {i} | {loads.get((i,P,'base'))} / {loads.get((i,P,'new'))} | {b['prod_mbps']:.0f} / {n['prod_mbps']:.0f} | {r:.2f} | {b['cons_mbps']:.0f} / {n['cons_mbps']:.0f} | {b['cpu_per_gib']:.2f} / {n['cpu_per_gib']:.2f} | {c:.2f} |"
        if cs:
            xb=b['vcsw_per_gib']+b['ivcsw_per_gib']; xn=n['vcsw_per_gib']+n['ivcsw_per_gib']; xr.append(xn/xb)
            line+=f" {xb/1000:.1f}k / {xn/1000:.1f}k | {xn/xb:.2f} |"
        print(line)
    if pr:
        line=f"| {P} | median | | | {statistics.median(pr):.2f} | | | {statistics.median(cr):.2f} |"
        if cs: line+=f" | {statistics.median(xr):.2f} |"
        print(line)
print()
print("| pair | arm | 1,000 ÷ 8 produced MB/s | 10,000 ÷ 8 | 1,000 ÷ 8 CPU s/GiB | 10,000 ÷ 8 |")
print("|---:|---|---:|---:|---:|---:|")
for i in ['1','2','3','4','5','6']:
    for w in ['base','new']:
        a=rows.get((i,'8',w)); b=rows.get((i,'1000',w)); c=rows.get((i,'10000',w))
        if not a: continue
        f=lambda x,k: f"{x[k]/a[k]:.2f}" if x else "—"
        print(f"| {i} | {w} | {f(b,'prod_mbps')} | {f(c,'prod_mbps')} | {f(b,'cpu_per_gib')} | {f(c,'cpu_per_gib')} |")

import re,sys,os,statistics as st
def sect(txt,sc):
    m=re.search(r'\n### %s\n(.*?)(?=\n### |\Z)'%re.escape(sc),txt,re.S)
    return m.group(1) if m else ''
def row(s,t):
    m=re.search(r'\n\| %s \| (\d+) \| ([\d.]+) \|[^|]*\|[^|]*\|[^|]*\|[^|]*\|[^|]*\| ([\d.]+)'%t,s)
    return (float(m.group(2)),float(m.group(3))) if m else None
def parse(d,scs):
    txt=open(d+'/report.md').read(); r={}
    for sc in scs:
        s=sect(txt,sc)
        if s: r[sc]={t:row(s,t) for t in ('runnel','kfake','sink')}
    r['load']=' '.join(l.split('load average: ')[1].split(',')[0] for l in open(d+'/load.txt'))
    return r
pre=sys.argv[1]; arms=sys.argv[2].split(','); scs=sys.argv[3].split(',')
runs={}
for a in arms:
    for i in range(1,5):
        d=f'{pre}-{a}-{i}'
        if os.path.exists(d+'/report.md'): runs[(a,i)]=parse(d,scs)
for (a,i),r in sorted(runs.items(),key=lambda x:(x[0][1],arms.index(x[0][0]))):
    print(f'{pre} {a} {i} load {r["load"]}: '+' | '.join(f'{sc} runnel {r[sc]["runnel"][0]} MB/s {r[sc]["runnel"][1]} s/GiB, sink {r[sc]["sink"] and r[sc]["sink"][0]}, kfake {r[sc]["kfake"] and r[sc]["kfake"][0]}' for sc in scs if sc in r))
base=arms[0]
for a in arms[1:]:
    print(f'\npaired {a}/{base}:')
    for sc in scs:
        ps=[(runs[(base,i)][sc],runs[(a,i)][sc]) for i in range(1,5) if (base,i) in runs and (a,i) in runs and sc in runs[(base,i)] and sc in runs[(a,i)]]
        if not ps: continue
        f=lambda v:' '.join(f'{x:.2f}' for x in v)+(f'  median {st.median(v):.2f}' if v else '')
        print(f'  {sc}: MB/s {f([y["runnel"][0]/x["runnel"][0] for x,y in ps])} | ÷sink same run {f([(y["runnel"][0]/y["sink"][0])/(x["runnel"][0]/x["sink"][0]) for x,y in ps if x["sink"] and y["sink"]])} | CPU s/GiB {f([y["runnel"][1]/x["runnel"][1] for x,y in ps])}')

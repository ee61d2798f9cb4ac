import re,sys,glob,statistics as st,os
SC=['latency-floor-1k','latency-floor-1k-raw','latency-floor-10k','latency-floor-10k-raw']
def sect(txt,sc):
    m=re.search(r'\n### %s\n(.*?)(?=\n### |\Z)'%re.escape(sc),txt,re.S)
    return m.group(1) if m else ''
def parse(d):
    r={}
    txt=open(d+'/report.md').read()
    order=[m.group(1) for m in re.finditer(r'\] (\S+) on runnel',open(d+'/bench.log').read())]
    for sc in SC:
        s=sect(txt,sc)
        if not s: continue
        x={}
        m=re.search(r'\| runnel \| [^|]*\|[^|]*\|[^|]*\|[^|]*\| ([\d.]+) / ([\d.]+) / ([\d.]+) / ([\d.]+) / [^|]*\|[^|]*\|[^|]*\| ([\d.]+) \|',s)
        x['b']=[float(m.group(i)) for i in (1,3,4)]; x['cpu']=float(m.group(5))
        m=re.search(r'\| disk-floor \| [^|]*\|[^|]*\|[^|]*\|[^|]*\| ([\d.]+) / ([\d.]+) / ([\d.]+) / ([\d.]+) /',s)
        x['f']=[float(m.group(i)) for i in (1,3,4)]
        m=re.search(r'\| one sync \(fdatasync of a log\), per sync \| (\d+) \| ([\d.]+) \| ([\d.]+) \|',s); x['sync']=(int(m.group(1)),float(m.group(2)),float(m.group(3)))
        m=re.search(r'of which one sync \(fdatasync of the log\), mean per sync \| ([\d.]+)',s); x['syncmean']=float(m.group(1)) if m else None
        m=re.search(r'\| disk floor: one sync \(fdatasync of a log\), per sync \(exact, not bucketed\) \| (\d+) \| ([\d.]+) \| ([\d.]+) \|',s); x['fsync']=(int(m.group(1)),float(m.group(2)),float(m.group(3)))
        if sc in order:
            k=order.index(sc)+1
            try:
                xs=sorted(float(mm.group(1)) for mm in (re.search(r'\(\s*([\d.]+) ms\): \S+ fdatasync',l) for l in open(f'{d}/trace-{k}.txt')) if mm)
                _,c,b=open(f'{d}/bio-{k}.txt').read().split()
                x['bio']=(len(xs), xs[len(xs)//2] if xs else 0, float(b)/max(len(xs),1)/1024)
            except Exception as e: pass
        r[sc]=x
    r['load']=' '.join(l.split('load average: ')[1].split(',')[0] for l in open(d+'/load.txt'))
    return r
pre,a,b=sys.argv[1:4]
pairs=[]; i=1
while os.path.exists(f'{pre}-{a}-{i}/report.md') and os.path.exists(f'{pre}-{b}-{i}/report.md'):
    pairs.append((parse(f'{pre}-{a}-{i}'),parse(f'{pre}-{b}-{i}'))); i+=1
for k,(A,B) in enumerate(pairs,1):
    print(f'pair {k}: load {a} {A["load"]}, {b} {B["load"]}')
    for sc in SC:
        for n,R in ((a,A),(b,B)):
            x=R.get(sc)
            if not x: continue
            bio=f" | traced: {x['bio'][0]} fdatasyncs p50 {x['bio'][1]:.3f} ms, {x['bio'][2]:.1f} KiB/sync" if 'bio' in x else ''
            print(f"  {sc:22s} {n:4s} broker p50/p99/p99.9 {x['b']} floor {x['f']} | sync n {x['sync'][0]} p50 {x['sync'][1]} p99 {x['sync'][2]} mean {x['syncmean']} | floor sync p50 {x['fsync'][1]} | cpu {x['cpu']}{bio}")
def med(v): return f"{' '.join(f'{y:.2f}' for y in v)}  median {st.median(v):.2f}" if v else '-'
print(f'\npaired ratios {b}/{a}:')
for sc in SC:
    ps=[(A[sc],B[sc]) for A,B in pairs if sc in A and sc in B]
    if not ps: continue
    print(sc)
    for j,q in enumerate(['p50','p99','p99.9']):
        print(f"  broker {q}: {med([y['b'][j]/x['b'][j] for x,y in ps])} | floor {q}: {med([y['f'][j]/x['f'][j] for x,y in ps])} | (broker/floor) {q}: {med([(y['b'][j]/y['f'][j])/(x['b'][j]/x['f'][j]) for x,y in ps])}")
    print(f"  sync p50: {med([y['sync'][1]/x['sync'][1] for x,y in ps])} | sync p99: {med([y['sync'][2]/x['sync'][2] for x,y in ps])} | sync mean: {med([y['syncmean']/x['syncmean'] for x,y in ps if x['syncmean']])}")
    print(f"  (sync p50 / floor sync p50): {med([(y['sync'][1]/y['fsync'][1])/(x['sync'][1]/x['fsync'][1]) for x,y in ps])} | cpu s/GiB: {med([y['cpu']/x['cpu'] for x,y in ps])}")
    v=[y['bio'][2]/x['bio'][2] for x,y in ps if 'bio' in x and 'bio' in y and x['bio'][2]>0]
    if v: print(f"  KiB written per fdatasync (traced): {med(v)}")

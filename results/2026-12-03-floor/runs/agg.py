import re,sys,glob,statistics as st
# usage: agg.py A B pairs...   reads /tmp/floor-runs/ab-<i>-<arm>/report.md
A,B=sys.argv[1],sys.argv[2]; pairs=sys.argv[3:]
def parse(path):
    out={};sc=None
    for l in open(path):
        m=re.match(r'### (latency-floor-10k(-raw)?)\s*$',l)
        if m: sc=m.group(1); continue
        if l.startswith('### '): sc=None
        if not sc: continue
        c=[x.strip() for x in l.split('|')]
        if len(c)>6 and c[1] in('runnel','disk-floor') and '/' in c[6]:
            v=[float(x) for x in c[6].split('/')]
            out[(sc,c[1],'p50')],out[(sc,c[1],'p99')],out[(sc,c[1],'p99.9')]=v[0],v[2],v[3]
            if c[1]=='runnel':
                try: out[(sc,'runnel','cpu')]=float(c[9])
                except: pass
        if len(c)>4 and c[1]=='one sync (fdatasync of a log), per sync': out[(sc,'runnel','sync p50')]=float(c[3])
        if len(c)>4 and c[1].startswith('disk floor: one sync'): out[(sc,'disk-floor','sync p50')]=float(c[3])
    return out
rows={}
for p in pairs:
    a=parse(f'/tmp/floor-runs/ab-{p}-{A}/report.md'); b=parse(f'/tmp/floor-runs/ab-{p}-{B}/report.md')
    for sc in ('latency-floor-10k','latency-floor-10k-raw'):
        for f in ('p50','p99','p99.9','sync p50'):
            k=(sc,'runnel',f); kf=(sc,'disk-floor',f)
            if k in a and k in b:
                rows.setdefault((sc,f+' ('+B+'÷'+A+')'),[]).append(b[k]/a[k])
                if kf in a and kf in b and a[kf]>0 and b[kf]>0:
                    rows.setdefault((sc,f+' ÷ its floor, '+B+'÷'+A),[]).append((b[k]/b[kf])/(a[k]/a[kf]))
        k=(sc,'runnel','cpu')
        if k in a and k in b: rows.setdefault((sc,'broker CPU s/GiB ('+B+'÷'+A+')'),[]).append(b[k]/a[k])
print(f"| scenario | figure | pairs {' '.join(pairs)} | median |\n|---|---|---|---:|")
for (sc,f),v in rows.items():
    print(f"| {sc} | {f} | {' '.join('%.2f'%x for x in v)} | {st.median(v):.2f} |")

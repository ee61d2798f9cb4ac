import re,sys,glob
tag=sys.argv[1]; a=sys.argv[2]; b=sys.argv[3]; n=int(sys.argv[4])
def rows(path):
    out={}
    sc=None
    for line in open(path):
        m=re.match(r'^### ([a-z0-9-]+)',line)
        if m: sc=m.group(1); continue
        if sc and line.startswith('| runnel ') or (sc and line.startswith('| disk-floor ')):
            f=[x.strip() for x in line.strip().strip('|').split('|')]
            lat=[float(x) for x in f[5].split(' / ')]
            cpu=f[8].split()[0]
            out[(sc,f[0])]=(lat,cpu)
    return out
for i in range(1,n+1):
    ra=rows(f'/tmp/lead-ab/{tag}-{a}-{i}/report.md'); rb=rows(f'/tmp/lead-ab/{tag}-{b}-{i}/report.md')
    for k in sorted(ra):
        if k[1]!='runnel' or k not in rb: continue
        la,ca=ra[k]; lb,cb=rb[k]
        fa=ra.get((k[0],'disk-floor'))[0]; fb=rb.get((k[0],'disk-floor'))[0]
        r=[lb[j]/la[j] for j in (0,2,3)]
        fl=[ (lb[j]/fb[j])/(la[j]/fa[j]) for j in (0,2,3)]
        try: cr=float(cb)/float(ca)
        except: cr=float('nan')
        print(f"pair {i} {k[0]:24s} {b}/{a} p50 {r[0]:.2f} p99 {r[1]:.2f} p99.9 {r[2]:.2f} | floor-ratio ratio p50 {fl[0]:.2f} p99 {fl[1]:.2f} p99.9 {fl[2]:.2f} | cpu {cr:.2f}")

import re,sys
def load(f,name):
    b={}
    for l in open(f):
        m=re.match(name+r'_bucket\{le="([^"]+)"\}\s+(\S+)',l)
        if m: b[float(m.group(1))]=float(m.group(2))
    return b
name=sys.argv[3] if len(sys.argv)>3 else 'runnel_fsync_duration_seconds'
a=load(sys.argv[1],name); b=load(sys.argv[2],name)
les=sorted(b); cum=[b[k]-a.get(k,0) for k in les]; n=cum[-1]
def q(p):
    r=p*n; prev=0; pl=0
    for le,c in zip(les,cum):
        if c>=r:
            return (pl+(le-pl)*(r-prev)/max(c-prev,1))*1e3
        prev=c; pl=le
for p in (.5,.9,.99): print(f"{name} p{int(p*100)} interpolated {q(p):.3f} ms (n={n:.0f})")

import re,sys,statistics
# parse perf trace -T output into events (start, end, tid, name, args, ret)
ev=[]
pat=re.compile(r'^\s*([\d.]+) \(\s*([\d.]+) ms\): \S+?/(\d+)\s+(?:\.\.\. \[continued\]: )?(\w+)\((.*?)\)\s+= (\S+)')
for line in open(sys.argv[1]):
    m=pat.match(line)
    if not m: continue
    t,d,tid,name,args,ret=m.groups()
    t=float(t);d=float(d)
    ev.append((t,t+d,int(tid),name,args,ret))
ev.sort()
connfd=sys.argv[2]; efd=sys.argv[3]
from collections import Counter
if connfd=='auto':
    c=Counter(a.split(',')[0][4:] for s_,e,tid,n,a,r in ev if n=='read' and r=='1154')
    connfd=c.most_common(1)[0][0]
if efd=='auto':
    c=Counter(a.split(',')[0][4:] for s_,e,tid,n,a,r in ev if n=='write' and a.endswith('count: 8'))
    efd=c.most_common(1)[0][0]
print('conn fd',connfd,'eventfd',efd)
# sequence: request read (conn fd, ret>0) -> fdatasync start -> fdatasync end -> eventfd write -> writev conn
reqs=[];pend=[]
syncs=[(s,e) for s,e,tid,n,a,r in ev if n=='fdatasync']
efw=[s for s,e,tid,n,a,r in ev if n=='write' and a.startswith('fd: %s,'%efd)]
resp=[s for s,e,tid,n,a,r in ev if n in('writev','write','sendmsg') and a.startswith('fd: %s,'%connfd)]
reads=[e for s,e,tid,n,a,r in ev if n=='read' and a.startswith('fd: %s,'%connfd) and r.isdigit() and int(r)>0]
import bisect
def nxt(lst,t,key=lambda x:x):
    ks=[key(x) for x in lst]
    i=bisect.bisect_left(ks,t)
    return lst[i] if i<len(lst) else None
a=[];b=[];c=[];d=[];tot=[]
ss=[s for s,e in syncs]
for r in reads:
    i=bisect.bisect_left(ss,r)
    if i>=len(syncs): continue
    s,e=syncs[i]
    w=nxt(efw,e); 
    if w is None: continue
    x=nxt(resp,w)
    if x is None: continue
    if x-r>5: continue
    a.append((s-r)*1000);b.append((e-s)*1000);c.append((w-e)*1000);d.append((x-w)*1000);tot.append((x-r)*1000)
def q(l):
    l=sorted(l);n=len(l)
    return "p50 %.0f p90 %.0f p99 %.0f"%(l[n//2],l[int(n*.9)],l[int(n*.99)])
print("n",len(a),"syncs",len(syncs))
print("read->fdatasync start us", q(a))
print("fdatasync us            ", q(b))
print("fdatasync end->eventfd  ", q(c))
print("eventfd->response write ", q(d))
print("read->response write    ", q(tot))

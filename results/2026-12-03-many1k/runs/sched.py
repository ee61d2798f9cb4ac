import sys, collections, re
cnt=collections.Counter(); tot=collections.Counter()
ev=None
def flush(ev):
    if not ev: return
    head, frames = ev
    m=re.search(r'prev_state=(\S+)', head)
    st=m.group(1) if m else '?'
    names=[f.split()[1] if len(f.split())>1 else f for f in frames]
    names=[re.sub(r'\+0x[0-9a-f]+','',n) for n in names]
    inloop=any('netpoll.(*loop)' in n for n in names)
    where='loop' if inloop else ('flush' if any('flush.' in n for n in names) else 'other')
    # first "interesting" kernel frame after schedule
    key=[n for n in names if n not in ('__schedule','schedule','schedule_preempt_disabled','io_schedule','preempt_schedule_common','__cond_resched','schedule_timeout')][:3]
    user=[n for n in names if n.startswith('runnel/')][:1]
    tot[(where,st)]+=1
    cnt[(where,st,tuple(key),tuple(user))]+=1
for line in open(sys.argv[1]):
    if not line.strip():
        flush(ev); ev=None; continue
    if not line.startswith('\t') and not line.startswith(' '):
        flush(ev); ev=(line,[]); continue
    if ev: ev[1].append(line.strip())
flush(ev)
print(tot)
for k,v in cnt.most_common(25):
    if k[0]=='loop' or k[1]=='D': print(v,k)

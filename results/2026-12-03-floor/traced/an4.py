import sys,re,statistics as st
ev=[]
for line in open(sys.argv[1]):
    m=re.match(r'\s*\S+\s+(\d+)\s+\[\d+\]\s+([\d.]+):\s+(\S+):',line)
    if not m: continue
    nm=m.group(3).split(':')[1]; nm=re.sub(r'^[iq]_','p_',nm)
    ev.append((float(m.group(2)),int(m.group(1)),nm))
ev.sort()
order=['p_Sync','sys_enter_fdatasync','sys_exit_fdatasync','p_finish','p_release','p_finishLocked']
segs={}
names=['pre: Sync entry -> fdatasync','fdatasync (exact)','exitsyscall+return','publishDurable+notify','releaseSynced+f.mu','timed region (Sync entry -> finishLocked)']
for k in names: segs[k]=[]
first_done=[];exit_to_writev=[]
for i,(t,tid,n) in enumerate(ev):
    if n!='p_Sync': continue
    ts=[t]; j=i+1
    for want in order[1:]:
        while j<len(ev) and j<i+3000 and not (ev[j][2]==want and ev[j][1]==tid): j+=1
        if j>=len(ev) or j>=i+3000: break
        ts.append(ev[j][0])
    if len(ts)<len(order): continue
    for k,(a,b) in zip(names,[(0,1),(1,2),(2,3),(3,4),(4,5),(0,5)]): segs[k].append(ts[b]-ts[a])
    # after finishLocked: first p_durable, first writev
    for t2,tid2,n2 in ev[j+1:j+3000]:
        if n2=='p_durable': first_done.append(t2-ts[5]); break
    for t2,tid2,n2 in ev[j+1:j+3000]:
        if n2=='sys_enter_writev': exit_to_writev.append(t2-ts[2]); break
segs['finishLocked -> first done']=first_done
segs['fdatasync exit -> first writev']=exit_to_writev
def q(a,p): a=sorted(a); return a[min(len(a)-1,int(p*len(a)))]*1e6
print("| segment (µs) | syncs | p50 | p90 | p99 | mean |\n|---|---:|---:|---:|---:|---:|")
for k,a in segs.items():
    if a: print(f"| {k} | {len(a)} | {q(a,.5):.0f} | {q(a,.9):.0f} | {q(a,.99):.0f} | {st.mean(a)*1e6:.0f} |")

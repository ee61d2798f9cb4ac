import sys,re,statistics as st
ev=[]
for line in open(sys.argv[1]):
    m=re.match(r'\s*\S+\s+(\d+)\s+\[\d+\]\s+([\d.]+):\s+(\S+):',line)
    if not m: continue
    nm=m.group(3).split(':')[1]; nm=re.sub(r'^[iq]_','p_',nm)
    ev.append((float(m.group(2)),int(m.group(1)),nm))
ev.sort()
same=['p_Sync','sys_enter_fdatasync','sys_exit_fdatasync','p_finish','p_release','p_finishLocked']
after=['p_durable','p_markReady','p_drain','sys_enter_writev']
names=['Sync entry -> fdatasync','fdatasync','fdatasync return -> pendingSync.finish (exitsyscall)','finish -> releaseSynced (publishDurable, changed.notify)','releaseSynced -> finishLocked (madvise/fadvise, clock, f.mu)','finishLocked -> first done','done -> markReady (finishEpoll: encode)','markReady -> loop drain (eventfd, netpoller, loop goroutine)','drain -> writev','fdatasync return -> writev (sum)']
segs={k:[] for k in names}
for i,(t,tid,n) in enumerate(ev):
    if n!='p_Sync': continue
    ts=[t]; j=i+1
    for want in same[1:]:
        while j<len(ev) and j<i+3000 and not (ev[j][2]==want and ev[j][1]==tid): j+=1
        if j>=len(ev) or j>=i+3000: break
        ts.append(ev[j][0])
    if len(ts)<len(same): continue
    for want in after:
        while j<len(ev) and j<i+3000 and ev[j][2]!=want: j+=1
        if j>=len(ev) or j>=i+3000: break
        ts.append(ev[j][0])
    if len(ts)<len(same)+len(after): continue
    for k in range(9): segs[names[k]].append(ts[k+1]-ts[k])
    segs[names[9]].append(ts[9]-ts[2])
def q(a,p): a=sorted(a); return a[min(len(a)-1,int(p*len(a)))]*1e6
print("| step (µs) | syncs | p50 | p90 | mean |\n|---|---:|---:|---:|---:|")
for k,a in segs.items():
    if a: print(f"| {k} | {len(a)} | {q(a,.5):.0f} | {q(a,.9):.0f} | {st.mean(a)*1e6:.0f} |")

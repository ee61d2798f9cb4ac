import sys,re
for f in sys.argv[1:]:
    import subprocess
    out=subprocess.run(['perf','script','-i',f],capture_output=True,text=True).stdout.splitlines()
    ins=None; kinds={}; cur=None
    for line in out:
        m=re.search(r'\s(\d+\.\d+):\s+(\S+)',line)
        if not m: continue
        t=float(m.group(1)); ev=m.group(2)
        if 'sys_enter_fdatasync' in ev: ins=t; cur=[]
        elif 'block_rq_issue' in ev and cur is not None:
            k=line.split('block_rq_issue:')[1].split()[1]; cur.append(k)
        elif 'sys_exit_fdatasync' in ev and ins is not None:
            key=' '.join(cur); kinds.setdefault(key,[]).append((t-ins)*1000); ins=None; cur=None
    tot=sum(len(v) for v in kinds.values())
    print(f,tot)
    for k,v in sorted(kinds.items(),key=lambda x:-len(x[1]))[:6]:
        v.sort(); print("  %-20s %5.1f%% mean %.3f p50 %.3f"%(k,100*len(v)/tot,sum(v)/len(v),v[len(v)//2]))

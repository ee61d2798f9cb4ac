import sys
rows=[l.strip().split(',') for l in open(sys.argv[1])]
M=[int(r[0]) for r in rows if r[1]=='M'][0]
A=[(int(r[0]),int(r[2])) for r in rows if r[1]=='A']
P=[(int(r[0]),int(r[2]),int(r[3]),int(r[4]),int(r[5])) for r in rows if r[1]=='P']
F=[(int(r[0]),int(r[2]),int(r[3]),int(r[4]),int(r[5])) for r in rows if r[1]=='F']
t0=min(x[0] for x in A)
step=int(float(sys.argv[2]) if len(sys.argv)>2 else 100)*1000000
import bisect
A.sort();P.sort();F.sort()
ai=pi=fi=0; ackfront=0; consfront=0
end=max(x[0] for x in P)
t=t0
print("t(s) rel-measure  ackfront_lag(ms) consfront_lag(ms) gap(ms) polls recs fetches fetchMB readwait_max(ms) timetoread_max(ms)")
while t<end:
    t+=step
    np=nr=nf=0;mb=0;rw=0;tr=0
    while ai<len(A) and A[ai][0]<=t: ackfront=max(ackfront,A[ai][1]); ai+=1
    while pi<len(P) and P[pi][0]<=t:
        if P[pi][1]>0: consfront=max(consfront,P[pi][3])
        np+=1; nr+=P[pi][1]; pi+=1
    while fi<len(F) and F[fi][0]<=t:
        nf+=1; mb+=F[fi][4]; rw=max(rw,F[fi][2]); tr=max(tr,F[fi][3]); fi+=1
    print("%6.2f %6.2f %8.1f %8.1f %8.1f %4d %6d %4d %6.2f %7.1f %7.1f"%((t-t0)/1e9,(t-M)/1e9,(t-ackfront)/1e6,(t-consfront)/1e6,(ackfront-consfront)/1e6,np,nr,nf,mb/1e6,rw/1e6,tr/1e6))

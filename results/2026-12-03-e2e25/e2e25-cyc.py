import sys
rows=[l.strip().split(',') for l in open(sys.argv[1])]
ev=sorted([(int(r[0]),r[1],int(r[2]),int(r[3]),int(r[4]),int(r[5])) for r in rows if r[1] in 'FP'])
t0=ev[0][0]
lo=float(sys.argv[2]); hi=float(sys.argv[3])
last=None
for e in ev:
    t=(e[0]-t0)/1e9
    if t<lo or t>hi: continue
    if e[1]=='F':
        print("%7.3f F write %.2fms readwait %.2fms toread %.2fms bytes %d"%(t,e[2]/1e6,e[3]/1e6,e[4]/1e6,e[5]))
    else:
        print("%7.3f P n %d e2e_first %.1f e2e_last %.1f proc %.2fms"%(t,e[2],(e[0]-e[3])/1e6 if e[2] else 0,(e[0]-e[4])/1e6 if e[2] else 0,e[5]/1e6))

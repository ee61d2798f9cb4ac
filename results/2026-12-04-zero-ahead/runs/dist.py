import re,sys
for f in sys.argv[1:]:
    d=[float(m.group(1)) for m in re.finditer(r'\(\s*([0-9.]+) ms\): \S+ fdatasync', open(f).read())]
    d.sort(); n=len(d)
    q=lambda p: d[min(n-1,int(p*n))]
    print(f, n, "mean %.3f p50 %.3f p90 %.3f p99 %.3f"%(sum(d)/n,q(.5),q(.9),q(.99)))

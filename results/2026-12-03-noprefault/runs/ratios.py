import re,sys,collections
# pairs: per round, value with prefault=true / prefault=false, per benchmark and metric
rounds=collections.defaultdict(dict)
r=None
for line in open(sys.argv[1]):
    m=re.match(r'== round (\d+) prefault=(\w+)',line)
    if m: r=(int(m.group(1)),m.group(2)); continue
    if line.startswith('Benchmark'):
        f=line.split()
        name=re.sub(r'/?prefault=\w+','',f[0]).replace('-2','')
        vals={}
        for i in range(2,len(f)-1):
            if f[i+1] in ('ns/op','cpu-ns/op','dirtied-B/op'): vals[f[i+1]]=float(f[i])
        rounds[(name,r[0])][r[1]]=vals
out=collections.defaultdict(list)
for (name,rn),d in sorted(rounds.items()):
    if 'true' in d and 'false' in d:
        for k in d['true']:
            out[(name,k)].append(d['true'][k]/d['false'][k])
for (name,k),v in sorted(out.items()):
    print(f"{name:55s} {k:13s} prefault÷none: "+" ".join(f"{x:.2f}" for x in v)+f"  median {sorted(v)[len(v)//2]:.2f}")

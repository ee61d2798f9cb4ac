import json,sys
P=sys.argv[1]
a=[json.load(open(f'p{i}-{P}.json'))['timeline'] for i in (0,1)]
cache=[int(x) for x in open(sys.argv[2]).read().split()]
n=min(len(a[0]),len(a[1]))
print('t  MB/s  ', ' '.join('%s%.0f'%('w' if a[0][i].get('warmup') else '', a[0][i]['produced_mb_per_sec']+a[1][i]['produced_mb_per_sec']) for i in range(n)))
print('cache MiB', ' '.join(str(c) for c in cache))

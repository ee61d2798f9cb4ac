#!/usr/bin/env python3
"""proftable.py <tag> <profile.txt>: a table of updateIndexes, Log.append and the total, s per GB
produced, per partition count and pair, base / new."""
import collections, sys
tag, path = sys.argv[1], sys.argv[2]
v = collections.defaultdict(dict)
for line in open(path):
    f = line.split()
    if len(f) < 5 or f[-2] == 'inf':
        continue
    run, scen, fn, val = f[0], f[1], f[2], float(f[3])
    pair, arm = run.split('-')
    v[(scen, pair)][(arm, fn)] = val
names = {'many-partitions-8': '8', 'many-partitions': '1000', 'many-partitions-10k': '10000'}
fns = [('runnel/segment.(*segment).updateIndexes', 'updateIndexes'), ('runnel/segment.(*Log).append', 'Log.append'), ('total', 'total')]
for scen in names:
    for pair in sorted({p for s, p in v if s == scen}):
        d = v[(scen, pair)]
        cells = []
        for fn, _ in fns:
            b, n = d.get(('base', fn)), d.get(('new', fn))
            cells.append(f"{b:.3f} / {n:.3f}" if b is not None and n is not None else "—")
        print(f"| {tag} | {names[scen]} | {pair[1:]} | " + " | ".join(cells) + " |")

#!/usr/bin/env python3
"""summarize.py <ab-dir>: per pair and partition count, Runnel's produced / consumed MB/s and
broker CPU s/GiB of each arm (results.json) and the ratios new / base; the medians; and each
arm's issue ratio (1,000 and 10,000 over 8 partitions, produced MB/s)."""
import json, os, re, statistics, sys

ab = sys.argv[1]
loads = {}
for line in open(os.path.join(ab, 'loads.txt')):
    f = line.split()
    loads[(f[0], f[1])] = (f[4], f[5])
pairs = sorted({k[0] for k in loads}, key=lambda p: int(p[1:]))
scen = ['many-partitions-8', 'many-partitions', 'many-partitions-10k']
names = {'many-partitions-8': '8', 'many-partitions': '1000', 'many-partitions-10k': '10000'}

def read(pair, arm):
    d = json.load(open(os.path.join(ab, f'{pair}-{arm}', 'results.json')))
    out = {}
    for r in d['runs']:
        if r['target'] != 'runnel':
            continue
        res = r['result']
        out[r['scenario']] = (res['produced']['mb_per_sec'], res['consumed']['mb_per_sec'], r['cpu_seconds_per_gib'])
    return out

print('| partitions | pair | load base / new (start, end) | produce MB/s base / new | ratio | consume MB/s base / new | CPU s/GiB base / new | ratio |')
print('|---:|---:|---|---|---:|---|---|---:|')
rat = {s: ([], []) for s in scen}
data = {}
for p in pairs:
    if (p, 'base') not in loads or (p, 'new') not in loads:
        continue
    data[p] = {a: read(p, a) for a in ('base', 'new')}
for s in scen:
    for p in data:
        b, n = data[p]['base'][s], data[p]['new'][s]
        rm, rc = n[0] / b[0], n[2] / b[2]
        rat[s][0].append(rm); rat[s][1].append(rc)
        lb, ln = loads[(p, 'base')], loads[(p, 'new')]
        print(f'| {names[s]} | {p[1:]} | {lb[0]}-{lb[1]} / {ln[0]}-{ln[1]} | {b[0]:.0f} / {n[0]:.0f} | {rm:.2f} | {b[1]:.0f} / {n[1]:.0f} | {b[2]:.2f} / {n[2]:.2f} | {rc:.2f} |')
    if rat[s][0]:
        print(f'| {names[s]} | median | | | {statistics.median(rat[s][0]):.2f} | | | {statistics.median(rat[s][1]):.2f} |')
print()
print('| pair | arm | 1,000 ÷ 8 produced MB/s | 10,000 ÷ 8 | 1,000 ÷ 8 CPU s/GiB | 10,000 ÷ 8 |')
print('|---:|---|---:|---:|---:|---:|')
for p in data:
    for a in ('base', 'new'):
        d = data[p][a]
        e = d['many-partitions-8']
        print(f"| {p[1:]} | {a} | {d['many-partitions'][0]/e[0]:.2f} | {d['many-partitions-10k'][0]/e[0]:.2f} | {d['many-partitions'][2]/e[2]:.2f} | {d['many-partitions-10k'][2]/e[2]:.2f} |")

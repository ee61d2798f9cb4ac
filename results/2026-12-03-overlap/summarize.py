#!/usr/bin/env python3
"""Paired ratios of raw/runs.jsonl: for each round, rate and file kind, k2, k4 and the inline
floor loop over the same round's k1 (the runs were back to back: k1 k2 k4 inline)."""
import json, sys, collections, statistics
runs = collections.defaultdict(dict)
loads = collections.defaultdict(list)
for line in open(sys.argv[1] if len(sys.argv) > 1 else 'raw/runs.jsonl'):
    d = json.loads(line); r = d['run']
    runs[(r['rate'], r['file'], d['round'])][r['policy']] = (r, d['loadavg'])
metrics = [('p50', lambda r: r['latency']['p50_ms']), ('p99', lambda r: r['latency']['p99_ms']),
           ('p99.9', lambda r: r['latency']['p99_9_ms']), ('syncs/s', lambda r: r['syncs_per_sec']),
           ('cpu/rec', lambda r: r['cpu_us_per_record'])]
groups = collections.defaultdict(list)
for (rate, file, rnd), pol in sorted(runs.items()):
    if 'k1' not in pol: continue
    base = pol['k1'][0]
    for p in ('k2', 'k4', 'inline'):
        if p in pol:
            groups[(rate, file, p)].append((rnd, [m(pol[p][0]) / m(base) if m(base) else float('nan') for _, m in metrics], pol[p][1]))
print('## Per-round values (ms; syncs/s; CPU µs per record)\n')
print('| rate | file | round | policy | load 1/5/15 | p50 | p99 | p99.9 | syncs/s | rec/sync | CPU µs/rec | lone sync p50 | overlapped sync p50 | overlapped share | gap p50 |')
print('|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
for (rate, file, rnd), pol in sorted(runs.items(), key=lambda kv: (-kv[0][0], kv[0][1], kv[0][2])):
    for p in ('k1', 'k2', 'k4', 'inline'):
        if p not in pol: continue
        r, la = pol[p]
        print('| %d | %s | %d | %s | %s | %.3f | %.3f | %.3f | %.0f | %.2f | %.1f | %.3f | %.3f | %.2f | %.3f |' % (
            rate, file, rnd, p, la, r['latency']['p50_ms'], r['latency']['p99_ms'], r['latency']['p99_9_ms'],
            r['syncs_per_sec'], r['records_per_sync'], r['cpu_us_per_record'], r['sync_lone']['p50_ms'],
            r['sync_overlap']['p50_ms'], r['overlap_frac'], r['overlap_gap']['p50_ms']))
print('\n## Ratios to k1 of the same round median (min–max) over rounds; "all <1" = lower in every pair)\n')
print('| rate | file | policy | pairs | ' + ' | '.join(n for n, _ in metrics) + ' | p50 and p99 both lower |')
print('|---|---|---|---:|' + '---|' * len(metrics) + '---:|')
for (rate, file, p), rows in sorted(groups.items(), key=lambda kv: (-kv[0][0], kv[0][1], kv[0][2])):
    cells = []
    for i in range(len(metrics)):
        v = [row[1][i] for row in rows]
        tag = ' (all <1)' if all(x < 1 for x in v) else (' (all >1)' if all(x > 1 for x in v) else '')
        cells.append('%.2f (%.2f–%.2f)%s' % (statistics.median(v), min(v), max(v), tag))
    both = sum(1 for row in rows if row[1][0] < 1 and row[1][1] < 1)
    print('| %d | %s | %s | %d | %s | %d of %d |' % (rate, file, p, len(rows), ' | '.join(cells), both, len(rows)))

#!/usr/bin/env python3
"""Paired ratios new÷base from runnel-bench report.md files (latency-floor-10k A/B).

usage: pairs.py RUNS_DIR TAG PAIRS [SCENARIO]
TAG lf...: latency-floor-10k; any other: a throughput SCENARIO (default
produce-acks1): Runnel's MB/s and CPU s/GiB, and kcat's where it ran.
Reads RUNS_DIR/TAG-{base,new}-i/report.md and prints, per pair and as the
geometric mean, new÷base of produce p50/p99/p99.9, of the same figures'
ratio to their own run's disk floor, and of the broker's respond stage.
"""
import math, re, sys

def ms(s):
    s = s.strip()
    m = re.match(r'([\d.]+)\s*(ms|s|µs)', s)
    v = float(m.group(1))
    return v * {'ms': 1, 's': 1000, 'µs': 0.001}[m.group(2)]

def parse(path):
    out = {}
    section = None
    for line in open(path):
        m = re.match(r'^\| (latency-floor-10k(?:-raw)?) produce at 10000 rec/s (p[\d.]+) \| ([^|]+) \| [^|]+ \| ([^|]+) \| ([\d.]+)×', line)
        if m:
            out[(m.group(1), m.group(2), 'runnel')] = ms(m.group(3))
            out[(m.group(1), m.group(2), 'floor')] = ms(m.group(4))
            out[(m.group(1), m.group(2), 'ratio')] = float(m.group(5))
        m = re.match(r'^### (\S+)', line)
        if m:
            section = m.group(1)
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if section and section.startswith('latency-floor-10k') and cells[0] == 'runnel' and len(cells) > 8:
            out[(section, 'cpu')] = float(cells[8].split()[0])
        m = re.match(r'^\| respond: reply finished to response written \| (\d+) \| ([\d.]+) \| ([\d.]+) \|', line)
        if m and section:
            out[(section, 'respond p50')] = float(m.group(2))
            out[(section, 'respond p99')] = float(m.group(3))
    return out

def parse_tput(path):
    """produce-acks1: Runnel's MB/s and CPU s/GiB (the scenario's table), and kcat's."""
    out = {}
    section = None
    for line in open(path):
        m = re.match(r'^### (\S+)', line)
        if m:
            section = m.group(1)
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if section == scen and cells[0] == 'runnel' and len(cells) > 8:
            out['runnel MB/s'] = float(cells[2])
            out['runnel CPU s/GiB'] = float(cells[8].split()[0])
        if cells[0] == '`runnel loadgen`' and len(cells) == 5 and 'loadgen MB/s' not in out:
            out['sink MB/s'] = float(cells[2])
        if cells[0] == 'kcat' and len(cells) == 5:
            out['kcat MB/s'] = float(cells[1])
            out['kcat CPU s/GiB'] = float(cells[4])
    return out

runs, tag, pairs = sys.argv[1], sys.argv[2], int(sys.argv[3])
scen = sys.argv[4] if len(sys.argv) > 4 else 'produce-acks1'
if not tag.startswith(('lf', 'L')):
    data = [(parse_tput(f'{runs}/{tag}-base-{i}/report.md'), parse_tput(f'{runs}/{tag}-new-{i}/report.md')) for i in range(1, pairs + 1)]
    def row(name, key):
        rs, cells = [], []
        if any(key not in b or key not in n for b, n in data):
            return
        for b, n in data:
            r = n[key] / b[key]
            rs.append(r)
            cells.append(f'{b[key]:g} → {n[key]:g} ({r:.2f})')
        gm = math.exp(sum(map(math.log, rs)) / len(rs))
        print(f'| {name} | ' + ' | '.join(cells) + f' | {gm:.2f} |')
    print('| figure | ' + ' | '.join(f'pair {i}: base → new (new÷base)' for i in range(1, pairs + 1)) + ' | geo. mean |')
    print('|---|' + '---|' * pairs + '---:|')
    for k in ('runnel MB/s', 'runnel CPU s/GiB', 'kcat MB/s', 'kcat CPU s/GiB'):
        row(f'{scen} {k}', k)
    sys.exit(0)
data = [(parse(f'{runs}/{tag}-base-{i}/report.md'), parse(f'{runs}/{tag}-new-{i}/report.md')) for i in range(1, pairs + 1)]

def row(name, key):
    rs = []
    cells = []
    for b, n in data:
        if key in b and key in n and b[key] > 0 and n[key] > 0:
            r = n[key] / b[key]
            rs.append(r)
            cells.append(f'{b[key]:g} → {n[key]:g} ({r:.2f})')
        else:
            cells.append(f'{b.get(key, "?")} → {n.get(key, "?")}')
    gm = math.exp(sum(map(math.log, rs)) / len(rs)) if rs else float('nan')
    print(f'| {name} | ' + ' | '.join(cells) + f' | {gm:.2f} |')

print('| figure | ' + ' | '.join(f'pair {i}: base → new (new÷base)' for i in range(1, pairs + 1)) + ' | geo. mean |')
print('|---|' + '---|' * pairs + '---:|')
for sc in ('latency-floor-10k', 'latency-floor-10k-raw'):
    for q in ('p50', 'p99', 'p99.9'):
        row(f'{sc} {q} (ms)', (sc, q, 'runnel'))
    for q in ('p50', 'p99', 'p99.9'):
        row(f'{sc} {q} ÷ floor (the report\'s ratio)', (sc, q, 'ratio'))
    for q in ('p50', 'p99', 'p99.9'):
        row(f'{sc} disk floor {q} (ms)', (sc, q, 'floor'))
    row(f'{sc} broker respond stage p50 (ms)', (sc, 'respond p50'))
    row(f'{sc} broker respond stage p99 (ms)', (sc, 'respond p99'))
    row(f'{sc} broker CPU s/GiB', (sc, 'cpu'))

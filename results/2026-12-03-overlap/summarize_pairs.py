#!/usr/bin/env python3
"""raw/pairs.jsonl as a table: per run, a lone sync's p50, the paired syncs' p50s, B's return
after A's (p50, p90) and how often B returned first."""
import json, sys
print('| round | file | B starts after A | load 1/5/15 | lone sync p50 | paired A p50 | paired B p50 | B returns after A: p50 (p90) | B after A over a lone sync (p50s) | B returned first |')
print('|---:|---|---:|---|---:|---:|---:|---:|---:|---:|')
for line in open(sys.argv[1] if len(sys.argv) > 1 else 'raw/pairs.jsonl'):
    d = json.loads(line); r = d['run']
    print('| %d | %s | %d µs | %s | %.3f | %.3f | %.3f | %.3f (%.3f) | %.2f | %d of 500 |' % (
        d['round'], r['file'], r['delay_us'], d['loadavg'], r['lone']['p50_ms'], r['paired_a']['p50_ms'],
        r['paired_b']['p50_ms'], r['gap_b_after_a']['p50_ms'], r['gap_b_after_a']['p90_ms'],
        r['gap_b_after_a']['p50_ms'] / r['lone']['p50_ms'], r['b_returned_first']))

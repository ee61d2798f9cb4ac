import json, sys
names = {'old': 'old (27f0beb)', 'new': 'new properties (596bc88)', 'prio': 'new properties + weight (4585d2f)'}
for run in sys.argv[1:]:
    r = json.load(open(f'/tmp/kcat/ab/{run}/results.json')); cc = r['cross_check']; cp = cc['capped']
    kind = names[run.rstrip('0123456789')]
    ls, le = r['load_start'][0], r['load_end'][0]
    rr = cp['runs']
    lg = [x for x in rr if x['client'] != 'kcat']; kc = [x for x in rr if x['client'] == 'kcat']
    rounds = ' · '.join(f"{a['mb_per_sec']:.0f}/{b['mb_per_sec']:.0f}" for a, b in zip(lg, kc))
    cpu = ' · '.join(f"{a['cpu_seconds_per_gib']:.2f}/{b['cpu_seconds_per_gib']:.2f}" for a, b in zip(lg, kc))
    thr = ' · '.join(f"{100*b['throttled']:.0f}" for b in kc)
    rpr = ' · '.join(f"{b['records_per_request']:.0f}" for b in kc)
    print(f"| {run} | {kind} | {ls:g}→{le:g} | {rounds} | {cpu} | {thr} | {rpr} | {cp['loadgen_mb_per_sec']:.1f} / {cp['kcat_mb_per_sec']:.1f} | **{cp['ratio']:.2f}×** | {cp['kcat_broker_cpu_seconds_per_gib']/cp['loadgen_broker_cpu_seconds_per_gib']:.2f}× | {cc['ratio']:.2f}× ({cc['kcat_mb_per_sec']:.0f}/{cc['loadgen_mb_per_sec']:.0f}) | {cc['broker_cpu_seconds_per_gib']/cc['loadgen_broker_cpu_seconds_per_gib']:.2f}× | {cc['kcat_records_per_request']:.0f} |")

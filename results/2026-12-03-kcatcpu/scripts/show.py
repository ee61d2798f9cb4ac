import json,sys
for l in sys.stdin:
    if not l.startswith('{'): continue
    r=json.loads(l); h=r['harness']; s=r['steady'] or {}
    print(f"{r['label']:10} {r['client']:7} load {r['load']:5} wall {r['wall']:5} harness {h['mbps']:6} MB/s {h['cpu_per_gib']:.3f} s/GiB | steady {s.get('mbps')} {s.get('cpu_per_gib')} | rpr {r['rec_per_req']} start {r['startup']} gcs {r['gcs']} u/s {r['user']}/{r['sys']}")

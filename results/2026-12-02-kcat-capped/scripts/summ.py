import json, sys, os
for run in sys.argv[1:]:
    p = f'/tmp/kcat/ab/{run}/results.json'
    if not os.path.exists(p): print(run, 'missing'); continue
    r = json.load(open(p)); cc = r.get('cross_check') or {}
    cp = cc.get('capped') or {}
    print(f"== {run}: load {r.get('load_start')} -> {r.get('load_end')}; props {' '.join(x for x in cc.get('properties',[]) if not x.startswith(('acks','enable','compression','batch.size','message.timeout')))}")
    print(f"   uncapped: kcat {cc.get('kcat_mb_per_sec',0):.1f} loadgen {cc.get('loadgen_mb_per_sec',0):.1f} ratio {cc.get('ratio',0):.2f}; kcat sink {cc.get('kcat_sink_mb_per_sec',0):.1f}; broker s/GiB kcat {cc.get('broker_cpu_seconds_per_gib',0):.2f} lg {cc.get('loadgen_broker_cpu_seconds_per_gib',0):.2f}; rec/req {cc.get('kcat_records_per_request',0):.0f}; kcat own {cc.get('kcat_cpu_seconds_per_gib',0):.2f}")
    for x in cp.get('runs', []):
        print(f"   capped {x['client']:15s} {x['mb_per_sec']:6.1f} MB/s  {x['cpu_seconds_per_gib']:.2f} s/GiB  throttled {100*x['throttled']:3.0f}%  rec/req {x['records_per_request']:.0f}")
    if cp: print(f"   capped medians: loadgen {cp.get('loadgen_mb_per_sec',0):.1f} kcat {cp.get('kcat_mb_per_sec',0):.1f} ratio {cp.get('ratio',0):.2f}; s/GiB {cp.get('loadgen_broker_cpu_seconds_per_gib',0):.2f} / {cp.get('kcat_broker_cpu_seconds_per_gib',0):.2f} {cp.get('error','')}{cp.get('skipped','')}")

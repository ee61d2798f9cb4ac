import json,sys
for d in sys.argv[1:]:
    j=json.load(open(d+'/results.json'))
    for r in j['runs']:
        if r['scenario']=='latency-50' and r['target']=='runnel':
            res=r['result'];c=res['config']
            pl=res['produce_latency'];e=res['end_to_end_latency']
            print("%s rate %6.0f prod %.2f cons %.2f p50 %6.1f p99 %6.1f p999 %6.1f e2e99 %7.1f send99 %6.1f load %s->%s"%(d[-3:],c['rate'],res['produced']['records_per_sec']/c['rate'],res['consumed']['records_per_sec']/res['produced']['records_per_sec'],pl['p50_ms'],pl['p99_ms'],pl['p99_9_ms'],e['p99_ms'],res['send_delay']['p99_ms'],j.get('load_start'),j.get('load_end')))

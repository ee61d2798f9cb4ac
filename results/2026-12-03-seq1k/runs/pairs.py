import json,sys
def mb(d,sc):
    r=json.load(open(f'/tmp/seq1k-runs/{d}/results.json'))
    for run in r['runs']:
        if run['scenario']==sc and run['target']=='runnel': return run['result']['produced']['mb_per_sec']
print("| pair | settled | sequence ÷ alone, 1,000 MB/s | sequence ÷ alone, 8 MB/s | sequence ÷ alone, 1,000 ÷ 8 |")
print("|---|---|---:|---:|---:|")
for name,a,b,st in [("1","A0","B0","no"),("2","A1","B1","no"),("3","A2","B2","yes"),("4","A3","B3","no")]:
    try:
        a8,a1,b8,b1=mb(a,'many-partitions-8'),mb(a,'many-partitions'),mb(b,'many-partitions-8'),mb(b,'many-partitions')
    except Exception: continue
    print(f"| {name} ({a}, {b}) | {st} | {b1/a1:.2f} | {b8/a8:.2f} | {(b1/b8)/(a1/a8):.2f} |")

import re,sys,glob,statistics as st
def parse(d):
    t=open(d+'/report.md').read()
    out={}
    for sec in re.split(r'\n### ',t)[1:]:
        name=sec.split('\n')[0].strip()
        m=re.search(r'\n\| runnel \| (\d+) \| ([\d.]+) \|.*?\| ([\d.]+) \|',sec)
        if m and name.startswith('many-partitions'):
            cols=[c.strip() for c in re.search(r'\n(\| runnel \|[^\n]*)',sec).group(1).split('|')]
            out[name]=(float(cols[3]),cols[9])
    r=re.findall(r'\| (1000|10000) partitions acks=1 \| ([\d.]+) MB/s \| (kfake, same load|Runnel with 8 partitions, same load) \| ([\d.]+) MB/s \| ([\d.]+)×',t)
    return out,r,open(d+'.load').read().split('load average: ')[1].split(',')[0]
for i in (1,2):
    for a in ('base','rand'):
        if glob.glob(f'mp-{a}-{i}/report.md'):
            o,r,l=parse(f'mp-{a}-{i}')
            print(f"mp {a} {i} load {l}: "+"; ".join(f"{k} {v[0]} MB/s cpu {v[1]}" for k,v in o.items())+" | "+"; ".join(f"{x[0]}p ÷ {x[2][:6]} {x[4]}" for x in r))

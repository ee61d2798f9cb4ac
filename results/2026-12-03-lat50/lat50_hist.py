import re,sys,json
def hist(path, name, label):
    b=[]
    for l in open(path):
        if l.startswith(name+'_bucket{') and label in l:
            le=re.search(r'le="([^"]+)"',l).group(1); b.append((float('inf') if le=='+Inf' else float(le), float(l.split()[-1])))
    return b
def q(b,qq):
    tot=b[-1][1]; want=qq*tot; prev_le,prev_c=0,0
    for le,c in b:
        if c>=want:
            if le==float('inf'): return prev_le*1000
            f=(want-prev_c)/(c-prev_c) if c>prev_c else 0
            return (prev_le+(le-prev_le)*f)*1000
        prev_le,prev_c=le,c
def summary(path):
    out={}
    for key,name,label in [('broker','runnel_request_duration_seconds','api="Produce"'),('sync_wait','runnel_produce_stage_seconds','stage="sync_wait"'),('fsync','runnel_fsync_duration_seconds','')]:
        b=hist(path,name,label)
        if b and b[-1][1]>0: out[key]=(round(q(b,.5),2),round(q(b,.99),2),int(b[-1][1]))
    return out
if __name__=='__main__':
    for f in sys.argv[1:]:
        for l in open(f):
            r=json.loads(l)
            if 'metrics' in r: print(r['ov'] or 'default', summary(r['metrics']), 'client p99', r['p99'], 'load', r['load'])

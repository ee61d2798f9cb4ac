#!/usr/bin/env python3
# prints one JSON line: broker cpu (user,sys s), produce requests, end offset sum, cached kB, rss, throttled
import json, sys, urllib.request, os
pid = int(open('/tmp/kcat/broker.pid').read())
st = open(f'/proc/{pid}/stat').read().rsplit(')',1)[1].split()
tck = os.sysconf('SC_CLK_TCK')
m = urllib.request.urlopen('http://127.0.0.1:19201/metrics', timeout=30).read().decode()
eo = 0; prod = 0; vals = {}
for line in m.splitlines():
    if line.startswith('runnel_log_end_offset{') and 'topic="produce-acks1"' in line:
        eo += int(float(line.split()[-1]))
    elif line.startswith('runnel_request_duration_seconds_count{api="Produce"}'):
        prod = int(float(line.split()[-1]))
    elif line.split(' ')[0] in ('go_memstats_heap_sys_bytes','go_memstats_heap_inuse_bytes','runnel_process_rss_anon_bytes','runnel_process_rss_file_bytes','go_gc_duration_seconds_count','runnel_connections'):
        vals[line.split(' ')[0]] = float(line.split()[-1])
mi = {l.split(':')[0]: int(l.split()[1]) for l in open('/proc/meminfo')}
thr = {}
try:
    for l in open('/sys/fs/cgroup/cpu/kcat-exp/cpu.stat'):
        k, v = l.split(); thr[k] = int(v)
except FileNotFoundError: pass
print(json.dumps(dict(user=int(st[11])/tck, sys=int(st[12])/tck, produce=prod, eo=eo, cached_kb=mi['Cached'], memfree_kb=mi['MemFree'], thr=thr, **vals)))

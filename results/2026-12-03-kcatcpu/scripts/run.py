#!/usr/bin/env python3
# run.py LABEL CLIENT [--perf] [--records N] : one client run against the capped broker; appends a JSON line to /tmp/kcatcpu/runs.jsonl
import sys, os, time, json, threading, subprocess, urllib.request, re
label, client = sys.argv[1], sys.argv[2]
perf = '--perf' in sys.argv
B = os.environ.get('RUNNEL', '/work/wt/kcatcpu/bin/runnel')
pid = int(open('/tmp/kcatcpu/broker.pid').read())
CLI = '/sys/fs/cgroup/cpu/kcatcpu-cli'
os.makedirs(CLI, exist_ok=True); open(CLI + '/cpu.shares', 'w').write('10240'); open(CLI + '/cgroup.procs', 'w').write(str(os.getpid()))
PROPS = ['acks=1', 'enable.idempotence=false', 'compression.codec=none', 'batch.num.messages=961', 'batch.size=1000000',
         'max.in.flight.requests.per.connection=8', 'queue.buffering.max.messages=23064', 'linger.ms=100',
         'message.send.max.retries=0', 'message.timeout.ms=60000']
extra_props = [a[3:] for a in sys.argv if a.startswith('-X=')]
def metrics():
    txt = urllib.request.urlopen('http://127.0.0.1:19201/metrics', timeout=5).read().decode()
    m = {'eo': 0, 'parts': [0]*8}
    for l in txt.splitlines():
        if l.startswith('runnel_log_end_offset{') and 'produce-acks1' in l:
            p = int(re.search(r'partition="(\d+)"', l).group(1)); v = float(l.split()[-1]); m['parts'][p] = v; m['eo'] += v
        elif l.startswith('runnel_request_duration_seconds_count{api="Produce"}'): m['produce'] = float(l.split()[-1])
        elif l.startswith('runnel_network_received_bytes_total'): m['rx'] = float(l.split()[-1])
        elif l.startswith('go_gc_duration_seconds_count'): m['gcs'] = float(l.split()[-1])
    return m
def io():
    d = dict(l.split(': ') for l in open(f'/proc/{pid}/io').read().splitlines())
    return int(d['rchar']), int(d['wchar'])
def light():
    s = {'t': time.time(), 'cpu': int(open('/sys/fs/cgroup/cpuacct/kcatcpu-b/cpuacct.usage').read()) / 1e9}
    s['rchar'], s['wchar'] = io(); return s
def snap():
    s = metrics(); s['t'] = time.time(); s['rchar'], s['wchar'] = io()
    s['cpu'] = int(open('/sys/fs/cgroup/cpuacct/kcatcpu-b/cpuacct.usage').read()) / 1e9
    st = dict(l.split() for l in open('/sys/fs/cgroup/cpu/kcatcpu-b/cpu.stat'))
    s['periods'], s['thr'] = int(st['nr_periods']), int(st['nr_throttled'])
    us = dict(l.split() for l in open('/sys/fs/cgroup/cpuacct/kcatcpu-b/cpuacct.stat'))
    s['user'], s['sys'] = int(us['user']) / 100, int(us['system']) / 100
    return s
samples = []; stop = threading.Event()
def sampler():
    while not stop.is_set():
        samples.append(light()); time.sleep(0.05)
s0 = snap(); th = threading.Thread(target=sampler); th.start()
pp = ps = None
if perf:
    pp = subprocess.Popen(['perf', 'record', '-q', '-F', '499', '-e', 'cpu-clock', '-g', '-p', str(pid), '-o', f'/tmp/kcatcpu/perf-{label}.data'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
ev = 'context-switches,syscalls:sys_enter_read,syscalls:sys_enter_pwrite64,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_fdatasync,syscalls:sys_enter_fadvise64,syscalls:sys_enter_madvise,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep,syscalls:sys_enter_pread64'
ps = None if os.environ.get('NOSTAT') else subprocess.Popen(['perf', 'stat', '-x,', '-e', ev, '-p', str(pid), '-o', f'/tmp/kcatcpu/stat-{label}.txt'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(0.2)
t0 = time.time(); extra = {}
if client == 'loadgen':
    procs = []
    for i in (0, 1):
        procs.append(subprocess.Popen([B, 'loadgen', '--bootstrap-server', '127.0.0.1:19200', '--topic', 'produce-acks1', '--partitions', '8', '--producers', '1', '--consumers', '0',
            '--record-size', '1024', '--acks', '1', '--compression', 'none', '--idempotent=false', '--warmup', os.environ.get('WARMUP', '2s'), '--duration', os.environ.get('DURATION', '10s'),
            '--raw', '--connections', os.environ.get('CONNS', '2'), '--in-flight', os.environ.get('INFL', '4'), '--batch-records', os.environ.get('BATCH', '961'), '--json', f'/tmp/kcatcpu/lg{i}.json', '--quiet'], stderr=open(f'/tmp/kcatcpu/lg{i}.err', 'w')))
    for p in procs: p.wait()
    a = [json.load(open(f'/tmp/kcatcpu/lg{i}.json')) for i in (0, 1)]
    from datetime import datetime
    def ts(s): 
        s = re.sub(r'(\.\d{6})\d*', r'\1', s); return datetime.fromisoformat(s.replace('Z', '+00:00')).timestamp()
    extra = dict(lg_mbps=sum(x['produced']['mb_per_sec'] for x in a), lg_acked=sum(x['totals']['acked'] for x in a),
                 win=[ts(a[0]['start']) + 2, ts(a[0]['start']) + 2 + a[0]['seconds']])
else:
    procs = []
    args = []
    for p in PROPS + extra_props: args += ['-X', p]
    for i in (0, 1):
        procs.append(subprocess.Popen(['/usr/bin/time', '-f', '%M %U %S', '-o', f'/tmp/kcatcpu/kc{i}.time', 'kcat', '-P', '-q', '-b', '127.0.0.1:19200', '-t', 'produce-acks1', '-l'] + args + [os.environ.get('FILE', '/tmp/kcatcpu/records')],
                     stderr=open(f'/tmp/kcatcpu/kc{i}.err', 'w')))
    for p in procs: p.wait()
    extra = dict(kcat_cpu=sum(sum(map(float, open(f'/tmp/kcatcpu/kc{i}.time').read().split()[-2:])) for i in (0, 1)))
t1 = time.time()
if pp: pp.send_signal(2); pp.wait()
if ps: ps.send_signal(2); ps.wait()
time.sleep(1.5); stop.set(); th.join(); s1 = snap()
def at(t, k):
    for a, b in zip(samples, samples[1:]):
        if a['t'] <= t <= b['t']:
            f = (t - a['t']) / (b['t'] - a['t']); return a[k] + f * (b[k] - a[k])
    return None
def window(a, b):
    byt = at(b, 'wchar') - at(a, 'wchar'); cpu = at(b, 'cpu') - at(a, 'cpu'); gib = byt / 2**30
    return dict(secs=round(b - a, 2), mbps=round(byt / 1e6 / (b - a), 1), cpu_per_gib=round(cpu / gib, 3) if gib else None, cores=round(cpu / (b - a), 3))
# first time bytes arrive, last time
first = next((s['t'] for s in samples if s['wchar'] > s0['wchar'] + 1e6), t0)
last = next((s['t'] for s in samples if s['wchar'] >= samples[-1]['wchar'] - 1e6), t1)
recs = s1['eo'] - s0['eo']; gib = recs * 1024 / 2**30
r = dict(label=label, client=client, wall=round(t1 - t0, 2), records=int(recs), rec_per_req=round(recs / max(1, s1['produce'] - s0['produce']), 1),
         startup=round(first - t0, 2), tail=round(t1 - last, 2),
         throttled=round((s1['thr'] - s0['thr']) / max(1, s1['periods'] - s0['periods']), 3), load=open('/proc/loadavg').read().split()[0],
         user=round(s1['user'] - s0['user'], 2), sys=round(s1['sys'] - s0['sys'], 2), gcs=s1.get('gcs', 0) - s0.get('gcs', 0), **extra)
if client == 'loadgen':
    r['harness'] = window(*extra['win'])   # the harness's figure: its window (MB/s here is broker-side)
else:
    w = window(t0, t1); r['harness'] = w
# steady: from 2 s after the first byte to 1 s before the last
r['steady'] = window(first + 2, min(last, t1) - 1) if min(last, t1) - 1 > first + 3 else None
r['parts'] = [int(s1['parts'][i] - s0['parts'][i]) for i in range(8)]
st = {}
try:
    for l in open(f'/tmp/kcatcpu/stat-{label}.txt'):
        f = l.strip().split(',')
        if len(f) > 2 and f[0].replace('.', '').isdigit(): st[f[2].replace('syscalls:sys_enter_', '')] = int(float(f[0]))
except Exception as e: st['err'] = str(e)
r['per_mib'] = {k: round(v / (recs * 1024 / 2**20), 2) for k, v in st.items() if not isinstance(v, str)} if recs else {}
json.dump(samples, open(f'/tmp/kcatcpu/samples-{label}.json', 'w'))
print(json.dumps(r)); open('/tmp/kcatcpu/runs.jsonl', 'a').write(json.dumps(r) + '\n')

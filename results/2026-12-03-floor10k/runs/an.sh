#!/bin/bash
D=$1
python3 - $D <<'P'
import sys,re
d=sys.argv[1]
xs=[float(m.group(1)) for m in (re.search(r'\(\s*([\d.]+) ms\): \S+ fdatasync',l) for l in open(d+'/trace.txt')) if m]
xs.sort(); n=len(xs)
io0=dict(l.split(': ') for l in open(d+'/io0.txt').read().split('\n') if l)
io1=dict(l.split(': ') for l in open(d+'/io1.txt').read().split('\n') if l)
t=float(open(d+'/t1.txt').read())-float(open(d+'/t0.txt').read())
b0=open(d+'/blk0.txt').read().split(); b1=open(d+'/blk1.txt').read().split()
wb=int(io1['write_bytes'])-int(io0['write_bytes'])
print(f"{d}: fdatasync syscalls n={n} over {t:.1f}s p50 {xs[n//2]:.3f} p90 {xs[n*9//10]:.3f} p99 {xs[n*99//100]:.3f} ms; broker write_bytes {wb/t/1e6:.1f} MB/s (x{wb/t/10.24e6:.2f} of 10.24 MB/s appended); device writes {(int(b1[4])-int(b0[4]))/t:.0f}/s {(int(b1[6])-int(b0[6]))*512/t/1e6:.1f} MB/s (all processes)")
P

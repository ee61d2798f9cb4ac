#!/bin/bash
cd /work/wt/noprefault
run() { out=/tmp/noprefault-runs/$1-$2-$3; rm -rf $out
  echo "$(date -u +%T) start $1 $2 $3 $(uptime)" >> /tmp/noprefault-runs/log.txt
  ./bin/runnel-bench --only $1 --runnel /tmp/noprefault-bin/runnel-$2 --work-dir /tmp/noprefault-work --out $out > $out.stdout 2>&1
  echo "$(date -u +%T) end $1 $2 $3 rc=$? $(uptime)" >> /tmp/noprefault-runs/log.txt
  rm -rf /tmp/noprefault-work/*; }
# the fix first in each pair this time
run produce-acksall-many fix 6; run produce-acksall-many base 6
run produce-acksall-many fix 7; run produce-acksall-many base 7

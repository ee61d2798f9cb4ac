#!/bin/bash
until grep -q 'end mp8 fix 2' /tmp/noprefault-runs/log.txt; do sleep 5; done
cd /work/wt/noprefault
run() { # scen arm i
  out=/tmp/noprefault-runs/$1-$2-$3; rm -rf $out
  echo "$(date -u +%T) start $1 $2 $3 $(uptime)" >> /tmp/noprefault-runs/log.txt
  ./bin/runnel-bench --only $1 --runnel /tmp/noprefault-bin/runnel-$2 --work-dir /tmp/noprefault-work --out $out > $out.stdout 2>&1
  echo "$(date -u +%T) end $1 $2 $3 rc=$? $(uptime)" >> /tmp/noprefault-runs/log.txt
  rm -rf /tmp/noprefault-work/*
}
run many-partitions base 4; run many-partitions fix 4
run produce-acksall-many base 4; run produce-acksall-many fix 4
run produce-acksall-many base 5; run produce-acksall-many fix 5

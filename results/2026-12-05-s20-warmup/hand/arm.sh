#!/bin/bash
# arm NAME P: one hand run; prints produced MB/s total, consumed, Cached growth
N=$1; P=$2
c0=$(awk "/^Cached:/{print int(\$2/1024)}" /proc/meminfo); r0=$(awk "/^pgpgin /{print \$2}" /proc/vmstat)
mx=$c0
( while sleep 1; do awk '/^Cached:/{print int($2/1024)}' /proc/meminfo; done > cache-$N.txt ) & M=$!
./run.sh $P > /dev/null 2>&1
kill $M
mx=$(sort -n cache-$N.txt | tail -1)
p=$(grep -h "^produced" p0-$P.txt p1-$P.txt | awk '{s+=$4} END {print s}')
c=$(grep -h "^consumed" c-$P.txt | awk '{print $4}')
r1=$(awk "/^pgpgin /{print \$2}" /proc/vmstat); echo "$N P=$P produced $p MB/s consumed $c cache $c0 -> max $mx MiB read $(( (r1-r0)/1024 )) MiB $(date +%T)"

#!/bin/bash
# ab.sh TAG NEWBIN PAIRS PARTS...: alternate base and NEWBIN, ABBA order, per partition count.
TAG=$1; NEW=$2; PAIRS=$3; shift 3
BASE=/tmp/many1k-bin/runnel-base
mkdir -p /tmp/many1k-ab/$TAG
for i in $(seq $PAIRS); do
  for P in "$@"; do
    if [ $((i % 2)) = 1 ]; then order="base new"; else order="new base"; fi
    for w in $order; do
      bin=$BASE; [ $w = new ] && bin=$NEW
      echo "pair $i P=$P $w load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/many1k-ab/$TAG/log
      /tmp/many1k-ab/run1.sh $bin $P /tmp/many1k-ab/$TAG/p$i-$P-$w >> /tmp/many1k-ab/$TAG/log 2>&1
    done
  done
done
echo done >> /tmp/many1k-ab/$TAG/log

#!/bin/bash
# seq2.sh: after the running mp-pw-1, these runs in order, none started after 06:51 UTC
cd /tmp/smallpw-runs
while pgrep -f "run3.sh pw /tmp/smallpw-runs/mp-pw-1" >/dev/null; do sleep 3; done
echo "mp pw 1 done $(date -u +%T) $(cat /proc/loadavg)" >> ab.log
for r in "mp pwnp 1 many-partitions" "thr base 2 produce-acks1,small-100b" "thr pw 2 produce-acks1,small-100b" \
         "mp base 2 many-partitions" "mp pw 2 many-partitions" "mp pwnp 2 many-partitions" "thr pwnp 2 produce-acks1,small-100b"; do
  set -- $r
  [ $(date -u +%H%M) -ge 0651 ] && { echo "stop before $r $(date -u +%T)" >> ab.log; break; }
  EXTRA=""; [ $2 = pwnp ] && EXTRA="--override runnel.segment.prefault.total.bytes=0"
  EXTRA="$EXTRA" NOTRACE=1 ./run3.sh $2 /tmp/smallpw-runs/$1-$2-$3 $4
  echo "$1 $2 $3 done $(date -u +%T) $(cat /proc/loadavg)" >> ab.log
done

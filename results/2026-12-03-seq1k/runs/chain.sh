#!/bin/bash
A='many-partitions-8$,many-partitions$'
B='produce-acks1$,produce-acksall,small-100b,catch-up,latency,many-partitions-8$,many-partitions$'
for step in "A1 0 A" "B1 0 B" "B2 1 B" "A2 1 A" "A3 0 A" "B3 0 B" "B4 1 B" "A4 1 A"; do
  set -- $step
  if [ $3 = A ]; then only=$A; else only=$B; fi
  ./drive.sh $1 $2 "$only"
  [ -f /tmp/seq1k-runs/STOP ] && break
done

#!/bin/bash
A='many-partitions-8$,many-partitions$'
B='produce-acks1$,produce-acksall,small-100b,catch-up,latency,many-partitions-8$,many-partitions$'
while pgrep -f "chain2.sh" >/dev/null; do sleep 5; done
./drive2.sh B2 1 "$B"; [ -f STOP3 ] && exit
./drive2.sh A2 1 "$A"; [ -f STOP3 ] && exit
./drive2.sh A3 0 "$A"; [ -f STOP3 ] && exit
./drive2.sh B3 0 "$B"

#!/bin/bash
# usage: lat50-ab.sh PAIRS RATE OUTFILE BASEBIN NEWBIN [overrides]
N=$1; RATE=$2; export ABOUT=$3; A=$4; B=$5; shift 5
for i in $(seq $N); do
  /tmp/lat50-run.sh $A $RATE 1 "$@" >/dev/null
  /tmp/lat50-run.sh $B $RATE 1 "$@" >/dev/null
done

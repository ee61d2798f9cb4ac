#!/bin/bash
# usage: lat50-ab2.sh PAIRS RATE OUTFILE BIN "A overrides" "B overrides"
N=$1; RATE=$2; export ABOUT=$3; BIN=$4; A=$5; B=$6
for i in $(seq $N); do
  /tmp/lat50-run.sh $BIN $RATE 1 $A >/dev/null
  /tmp/lat50-run.sh $BIN $RATE 1 $B >/dev/null
done

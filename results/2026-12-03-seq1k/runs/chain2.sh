#!/bin/bash
A='many-partitions-8$,many-partitions$'
# wait for chain 1 (B1) to end
while pgrep -f "seq1k-runs/chain.sh" >/dev/null || pgrep -f "chain.sh" -u root >/dev/null && [ -n "$(pgrep -f 'seq1k-runs/B1')" ]; do sleep 5; done
while pgrep -f "/tmp/seq1k-bin/runnel-bench" >/dev/null; do sleep 5; done
for i in 1 2 3; do
  ./drive2.sh G$i 1 "$A"
  ./drive2.sh F$i 1 "$A" runnel.flush.syncfs.min.logs=0
done

#!/bin/sh
# symlinks: L-{base,new}-1..5 (latency pairs), A-{base,new}-1..8 (produce-acksall pairs)
cd /tmp/loopwrite-runs && mkdir -p comb && cd comb && rm -f *
i=0; for p in lf-1 lf-2 lf-3 lg-1 lh-1; do i=$((i+1)); t=${p%-*}; n=${p#*-}; for a in base new; do ln -s ../$t-$a-$n L-$a-$i; done; done
i=0; for p in pc-1 pc-2 pd-1 pd-2 pe-3 pe-4 pf-1 pf-2; do i=$((i+1)); t=${p%-*}; n=${p#*-}; for a in base new; do ln -s ../$t-$a-$n A-$a-$i; done; done

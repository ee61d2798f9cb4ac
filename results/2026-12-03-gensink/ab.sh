#!/bin/bash
# A/B of the base sink and the new one, same generator, alternating, per scenario
G=/tmp/gensink-bin/gs-runnel-base
for i in 1 2 3; do
  uptime
  for sc in acks1 acksall small many; do
    case $sc in
      acks1) E="";  SIZE=1024;;
      acksall) E="ACKS=all IDEMP=true"; SIZE=1024;;
      small) E=""; SIZE=100;;
      many) E="PARTS=1000 REC=16 INFL=8"; SIZE=1024;;
    esac
    env $E ./run.sh /tmp/gensink-bin/bench-base $G 19203 $sc-base $SIZE 10s 2
    env $E ./run.sh /tmp/gensink-bin/bench-new $G 19204 $sc-new $SIZE 10s 2
  done
done
uptime

#!/bin/bash
# usage: run.sh BIN LABEL PORT
BIN=$1; LABEL=$2; PORT=$3
D=${OUT:-/tmp/rssmem}/$LABEL; rm -rf $D; mkdir -p $D/data
$BIN serve --listeners PLAINTEXT://127.0.0.1:$PORT --log.dirs $D/data --override runnel.admin.listener=127.0.0.1:$((PORT+1)) > $D/serve.log 2>&1 &
SP=$!
for i in $(seq 50); do grep -q . <(ss -ltn "sport = :$PORT" | tail -n +2) && break; sleep 0.2; done
( while kill -0 $SP 2>/dev/null; do echo "$(date +%s) $(grep -E 'VmRSS|RssAnon|RssFile' /proc/$SP/status | awk '{printf "%s %s ", $1, $2}')"; sleep 1; done ) > $D/rss.txt &
MP=$!
$BIN loadgen --bootstrap-server 127.0.0.1:$PORT --topic t --partitions 8 --producers 2 --consumers 1 \
  --record-size 1024 --rate 9766 --acks all --duration 30s --warmup 0s --quiet --json $D/out.json > $D/loadgen.txt 2>&1
tail -1 $D/rss.txt > $D/rss-end.txt
curl -s http://127.0.0.1:$((PORT+1))/metrics | grep -E '^(runnel_process_rss|runnel_cgroup_page|go_memstats_heap_inuse_bytes|process_resident)' > $D/metrics.txt
kill $SP; wait $SP
kill $MP 2>/dev/null

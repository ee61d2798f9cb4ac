#!/bin/bash
# every 3 s: the broker data's bytes in the page cache (fincore) against their size, under /tmp/fairbase/work
while true; do
  files=$(find /tmp/fairbase/work -path '*kept*' -prune -o -name '*.log' -size +0 -print 2>/dev/null | grep -v baseline)
  if [ -n "$files" ]; then
    echo "$(date -u +%T) $(echo "$files" | xargs fincore -b -n -o RES,SIZE 2>/dev/null | awk '{r+=$1; s+=$2} END {printf "cached %d MiB of %d MiB", r/1048576, s/1048576}')"
  fi
  sleep 3
done

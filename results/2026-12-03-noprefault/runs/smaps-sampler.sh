#!/bin/bash
# samples the runnel-new broker's resident mapped bytes by file kind, every 3 s, until $1 (epoch s)
until [ $(date +%s) -ge $1 ]; do
  for pid in $(pgrep -f 'noprefault-bin/runnel-(new|base|fix)'); do grep -q loadgen /proc/$pid/cmdline 2>/dev/null && continue
    [ $(wc -l < /proc/$pid/maps) -gt 1000 ] && continue
    bin=$(readlink /proc/$pid/exe); case "$bin" in */runnel-new|*/runnel-base|*/runnel-fix) ;; *) continue;; esac
    awk -v bin="$bin" -v t="$(date +%T)" '
      /^[0-9a-f]+-[0-9a-f]+ / {path=$6; kind="other"; if (path ~ /\.log$/) kind="log"; else if (path ~ /\.timeindex$/) kind="timeindex"; else if (path ~ /\.index$/) kind="index"; else if (path=="") kind="anon"; else if (path ~ /runnel/) kind="binary"}
      /^Rss:/ {rss[kind]+=$2}
      /^FilePmdMapped:/ {pmd[kind]+=$2}
      END {printf "%s %s", t, bin; for (k in rss) printf " %s=%dMiB(pmd %dMiB)", k, rss[k]/1024, pmd[k]/1024; print ""}' /proc/$pid/smaps 2>/dev/null
  done
  sleep 3
done

#!/bin/bash
# Samples the CPU seconds (utime+stime, clock ticks) of a process and its descendants.
root=$1; out=$2; tck=$(getconf CLK_TCK)
while kill -0 $root 2>/dev/null; do
  for p in $root $(pgrep -P $root) $(for c in $(pgrep -P $root); do pgrep -P $c; done); do
    [ -r /proc/$p/stat ] && echo "$(date +%s) $p $(awk -v t=$tck '{print ($14+$15)/t}' /proc/$p/stat) $(tr '\0' ' ' < /proc/$p/cmdline | cut -c1-80)"
  done >> $out
  sleep 5
done

#!/bin/bash
# Session 56's runs (docs/results/i14at), from the repository's root, with AUTORL_DATA set and
# AUTORL_SAMFEO naming a SAMFEO checkout (docs/benchmarks.md, "SAMFEO"). Each pair ran both
# arms at once, one worker each, nothing else running; autorl from a worktree of the commit
# named.
set -e
out=docs/results/i14at

# 1. a414ea2 (session 55's code) against SAMFEO on the Rfam sets: Taneda and RLV at 60 s.
autorl benchmark --dataset rfam-taneda --method samfeo --time-limit 60 --workers 1 --runs 1 --seed 8 --out $out/taneda-60s-seed8-samfeo --quiet &
autorl benchmark --dataset rfam-taneda --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 8 --out $out/taneda-60s-seed8-autorl --quiet &
wait
autorl benchmark --dataset rfam-learn-validation --method samfeo --time-limit 60 --workers 1 --runs 1 --seed 8 --out $out/rlv-60s-seed8-samfeo --quiet &
autorl benchmark --dataset rfam-learn-validation --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 8 --out $out/rlv-60s-seed8-autorl --quiet &
wait
autorl benchmark compare $out/taneda-60s-seed8-autorl $out/taneda-60s-seed8-samfeo
autorl benchmark compare $out/rlv-60s-seed8-autorl $out/rlv-60s-seed8-samfeo

# 2. a1d3f42 (the stage's first turn from the targeted starts): on (the default) against off
#    (--config first-turn-off.json), both at once.
for run in "eterna100-v2 60 9 eterna-60s-seed9" "rfam-learn-validation 10 10 rlv-10s-seed10" \
           "rfam-taneda 60 10 taneda-60s-seed10" "eterna100-v2 60 11 eterna-60s-seed11"; do
  set -- $run
  autorl benchmark --dataset $1 --method meta-learna-adapt --time-limit $2 --workers 1 --runs 1 --seed $3 --out $out/$4-first --quiet &
  autorl benchmark --dataset $1 --method meta-learna-adapt --time-limit $2 --workers 1 --runs 1 --seed $3 --config $out/first-turn-off.json --out $out/$4-nofirst --quiet &
  wait
  autorl benchmark compare $out/$4-first $out/$4-nofirst
done

# Solved within t seconds, per run.
python docs/results/i14as/dev/solved_within.py $out/*-*/
# A target's first improvements (seconds, distance, stage), the benchmark's settings:
PYTHONPATH=. python $out/dev/timeline.py rfam_learn_validation.txt 10 1 73 81 76

#!/bin/bash
# Session 57's runs (docs/results/i14au), from the repository's root, with AUTORL_DATA set and
# AUTORL_SAMFEO naming a SAMFEO checkout (docs/benchmarks.md, "SAMFEO"). Each pair ran both
# arms at once, one worker each, nothing else running; autorl from a worktree of a9aff51
# (its defaults are those of 3c696ef: the special-loop code it adds is off by default).
set -e
out=docs/results/i14au

# 1. The special-loop moves (bonus hairpins in mutations and competitor walks) against the
#    default, Eterna100-v2 at 60 s.
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 12 --out $out/eterna-60s-seed12-default --quiet &
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 12 --config $out/special-loops.json --out $out/eterna-60s-seed12-special --quiet &
wait
autorl benchmark compare $out/eterna-60s-seed12-special $out/eterna-60s-seed12-default

# 2. Today's code against SAMFEO on the three sets at 60 s, --seed 13.
for run in "rfam-taneda taneda" "eterna100-v2 eterna" "rfam-learn-validation rlv"; do
  set -- $run
  autorl benchmark --dataset $1 --method samfeo --time-limit 60 --workers 1 --runs 1 --seed 13 --out $out/$2-60s-seed13-samfeo --quiet &
  autorl benchmark --dataset $1 --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 13 --out $out/$2-60s-seed13-autorl --quiet &
  wait
  autorl benchmark compare $out/$2-60s-seed13-autorl $out/$2-60s-seed13-samfeo
done

# Solved within t seconds, per run (a side harness reading the results.csv files).
python docs/results/i14as/dev/solved_within.py $out/*-*/
# The special-loop move on puzzle 57 alone (a dev harness: the stage alone, 6 seeds, 10 s).
PYTHONPATH=. python $out/dev/stage_alone.py "(((.(..((.((....)).((....)).))..).(....).)))" 10 6

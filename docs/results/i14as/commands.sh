#!/bin/bash
# Session 55's runs (docs/results/i14as), from the repository's root, with AUTORL_DATA set and
# AUTORL_SAMFEO naming a SAMFEO checkout (see docs/benchmarks.md, "SAMFEO"). Each pair ran
# both arms at once, one worker each, nothing else running; autorl from a worktree of the
# commit named.
set -e
out=docs/results/i14as

# 1. b376fdf (before this session's design changes): autorl against SAMFEO, 60 s, --seed 4.
autorl benchmark --dataset eterna100-v2 --method samfeo --time-limit 60 --workers 1 --runs 1 --seed 4 --out $out/eterna-60s-seed4-samfeo --quiet &
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 4 --out $out/eterna-60s-seed4-autorl --quiet &
wait

# 2. 5c53fd4 (a batch stops folding at its solution): 10 s, --seed 5.
autorl benchmark --dataset eterna100-v2 --method samfeo --time-limit 10 --workers 1 --runs 1 --seed 5 --out $out/eterna-10s-seed5-samfeo --quiet &
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 10 --workers 1 --runs 1 --seed 5 --out $out/eterna-10s-seed5-autorl --quiet &
wait

# 3. acc5142 (and three targeted starts before the policy): 60 s, --seed 6.
autorl benchmark --dataset eterna100-v2 --method samfeo --time-limit 60 --workers 1 --runs 1 --seed 6 --out $out/eterna-60s-seed6-samfeo --quiet &
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 6 --out $out/eterna-60s-seed6-autorl --quiet &
wait

# The comparisons and the budgets' curves.
autorl benchmark compare $out/eterna-60s-seed4-autorl $out/eterna-60s-seed4-samfeo
autorl benchmark compare $out/eterna-10s-seed5-autorl $out/eterna-10s-seed5-samfeo
autorl benchmark compare $out/eterna-60s-seed6-autorl $out/eterna-60s-seed6-samfeo
python $out/dev/solved_within.py $out/eterna-*
PYTHONPATH=. python $out/dev/start_probe.py

# 4. acc5142: the ablation of the starts, 60 s, --seed 7, both at once.
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 7 --out $out/eterna-60s-seed7-starts3 --quiet &
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 7 --quick-starts 0 --out $out/eterna-60s-seed7-starts0 --quiet &
wait
autorl benchmark compare $out/eterna-60s-seed7-starts3 $out/eterna-60s-seed7-starts0

# 5. acc5142: the other goals, 2 workers.
autorl benchmark --dataset rfam-taneda --method meta-learna-adapt --time-limit 60 --workers 2 --runs 1 --seed 1 --out $out/taneda-60s-seed1 --quiet
autorl benchmark --dataset rfam-learn-validation --method meta-learna-adapt --time-limit 10 --workers 2 --runs 1 --seed 1 --out $out/rlv-10s-seed1 --quiet

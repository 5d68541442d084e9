#!/bin/bash
# Session 54's runs (issue 14), one after the other, nothing else running.
set -e
export AUTORL_DATA=${AUTORL_DATA:-../shared/data}
R=docs/results/i14ar
# Diagnostic: every burst's rounds and folds (dev27, the stage harness, seeds 100 and 200).
F="--repair 1 --rivals 0.5 --neighbourhood 16384 --decompose 0.3 --boost --mfe-length 200 --grafts 0.2 --restart 100"
for seed in 100 200; do
  PYTHONPATH=. python $R/dev/burst_log.py $R/dev/bursts.jsonl $R/dev/dev27.txt --seconds 10 --seed $seed $F --negative 100 > /dev/null
done
# Dev set: four arms (none, --negative 100, --negative 30, --negative 100 with patience 100), three seeds.
bash $R/dev/arms.sh
# Eterna100-v2 at 60 s, back to back, from a worktree of 5a1a192 with NEGATIVE_PATIENCE = 100
# (the default arm runs no bursts, so the patience does not touch it).
git worktree add --detach /tmp/run 5a1a192
sed -i 's/^NEGATIVE_PATIENCE = 20$/NEGATIVE_PATIENCE = 100/' /tmp/run/envs/ensemble_search.py
export PYTHONPATH=/tmp/run
N=docs/results/i14aq/negative-100.json
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 2 --runs 1 --seed 1 --config $N --out $R/eterna-60s-seed1-neg100p100 --quiet
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 2 --runs 1 --seed 1 --out $R/eterna-60s-seed1-default --quiet
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 2 --runs 1 --seed 2 --out $R/eterna-60s-seed2-default --quiet
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 2 --runs 1 --seed 2 --config $N --out $R/eterna-60s-seed2-neg100p100 --quiet
# The pairs, job by job (exact McNemar test).
for seed in 1 2; do
  autorl benchmark compare $R/eterna-60s-seed$seed-neg100p100 $R/eterna-60s-seed$seed-default
  autorl benchmark compare docs/results/i14aq/eterna-60s-seed$seed-neg100 docs/results/i14aq/eterna-60s-seed$seed-default
done
autorl benchmark compare $R/eterna-60s-seed1-default $R/eterna-60s-seed2-default
# Both arms at once, one worker each (session 53's bursts against the default, seed 3).
unset PYTHONPATH
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 3 --config $N --out $R/eterna-60s-seed3-neg100-concurrent --quiet &
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 3 --out $R/eterna-60s-seed3-default-concurrent --quiet &
wait
autorl benchmark compare $R/eterna-60s-seed3-neg100-concurrent $R/eterna-60s-seed3-default-concurrent

#!/bin/bash
# Session 53's runs (issue 14), one after the other, nothing else running.
set -e
export AUTORL_DATA=${AUTORL_DATA:-../shared/data}
R=docs/results/i14aq
# Prototype on session 52's final near-misses (diagnostic): DELTA 0 (MFE alone) or 100 (band).
I=docs/results/i14ap
for S in 0 1; do
  for DELTA in 0 100; do
    S=$S PYTHONPATH=. python $R/dev/subopt_proto.py $DELTA 32 20 $I/eterna100-v2-60s-new $I/eterna100-v2-60s-seed2-new $I/eterna100-v2-60s-old $I/eterna100-v2-60s-seed2-old
  done
done
# Dev set: the stage harness, three arms, three seeds.
bash $R/dev/arms.sh
# Eterna100-v2 at 60 s, back to back.
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 2 --runs 1 --seed 1 --config $R/negative-100.json --out $R/eterna-60s-seed1-neg100 --quiet
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 2 --runs 1 --seed 1 --out $R/eterna-60s-seed1-default --quiet
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 2 --runs 1 --seed 2 --out $R/eterna-60s-seed2-default --quiet
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 2 --runs 1 --seed 2 --config $R/negative-100.json --out $R/eterna-60s-seed2-neg100 --quiet

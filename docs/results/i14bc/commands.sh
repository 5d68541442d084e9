#!/bin/bash
# Session 65's runs (docs/results/i14bc), from the repository's root, with AUTORL_DATA set.
# One job at a time, nothing else running. "old" is a clean worktree of f6a3e93 (the new
# throughput ceiling, numpy's BLAS at OpenBLAS's default of 2 threads outside the numpy
# update); "new" of fa0ba58 (steps 1-2), 5ab4e8e (steps 3-4) or 095c07c (steps 5-7): one
# BLAS thread in design runs and meta-training (and sample_on_target from 095c07c). The
# runs stayed outside the repository (runs/ here; /work/exp/s65 on the day); the files that
# say what they did were copied into this folder.
set -e
out=docs/results/i14bc
old=/tmp/old new=/tmp/new   # git worktree add -f /tmp/old f6a3e93; git worktree add -f /tmp/new <the step's commit>

# 1. Throughput, the README's command, twice on each side (about 3 min each).
for side in old old new new; do
  PYTHONPATH=/tmp/$side python -m benchmarks.throughput --length 100 --seconds 20 --json \
    --config meta/models/meta-learna.json --local-improvement 0 >> $out/throughput-$side.jsonl
done
#    The probe that found it (one run of the loop each, old code): OpenBLAS's default, then
#    OPENBLAS_NUM_THREADS=1.
PYTHONPATH=$old python -m benchmarks.throughput --length 100 --seconds 20 --repeats 1 --json \
  --config meta/models/meta-learna.json --local-improvement 0 >> $out/throughput-probe.jsonl
OPENBLAS_NUM_THREADS=1 PYTHONPATH=$old python -m benchmarks.throughput --length 100 --seconds 20 --repeats 1 --json \
  --config meta/models/meta-learna.json --local-improvement 0 >> $out/throughput-probe.jsonl

# 2. The policy alone on Eterna100-v2 at 10 s, 2 jobs at a time, old then new.
policy="--method meta-learna --refine 0 --ensemble-share 0 --quick-starts 0"
PYTHONPATH=$old autorl benchmark --dataset eterna100-v2 $policy --time-limit 10 --workers 2 --runs 1 --seed 18 --out $out/eterna-10s-policy-old --quiet
PYTHONPATH=$new autorl benchmark --dataset eterna100-v2 $policy --time-limit 10 --workers 2 --runs 1 --seed 18 --out $out/eterna-10s-policy-new --quiet
autorl benchmark compare $out/eterna-10s-policy-old $out/eterna-10s-policy-new > $out/eterna-10s-policy-compare.txt

# 3. Meta-training speed: 60,000 steps on the first 300 targets of the shipped recipe's
#    training set (TRAIN_COUNT=6000's train.txt, session 64), old, new, old, new.
grep -v '^#' runs/run6k/train.txt | head -300 > runs/train300.txt
for round in 1 2; do
  for side in old new; do
    PYTHONPATH=/tmp/$side autorl meta-train --train-data runs/train300.txt \
      --config docs/results/i14ap/incumbent-noli.json --timesteps 60000 --workers 2 \
      --n-steps 64 --seed 0 --out runs/tr-$side-$round --quiet
  done
done   # time/fps in runs/tr-*/logs/session-1/progress.csv -> meta-training-speed.csv

# 4. The default method on Eterna100-v2 at 60 s, 2 jobs at a time (new code).
PYTHONPATH=$new autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 2 --runs 1 --seed 18 --out $out/eterna-60s --quiet
autorl benchmark compare docs/results/i14ba/eterna-60s-plain $out/eterna-60s > $out/eterna-60s-compare.txt

# 5. The default method on Eterna100-v2 at 10 s, 2 jobs at a time, old then new (new = 095c07c).
default="--method meta-learna-adapt --time-limit 10 --workers 2 --runs 1 --seed 20 --quiet"
PYTHONPATH=$old autorl benchmark --dataset eterna100-v2 $default --out $out/eterna-10s-default-old
PYTHONPATH=$new autorl benchmark --dataset eterna100-v2 $default --out $out/eterna-10s-default-new
autorl benchmark compare $out/eterna-10s-default-old $out/eterna-10s-default-new > $out/eterna-10s-default-compare.txt

# 6. The default method on Rfam-Taneda at 60 s, 2 jobs at a time (new = 095c07c).
PYTHONPATH=$new autorl benchmark --dataset rfam-taneda --method meta-learna-adapt --time-limit 60 --workers 2 --runs 1 --seed 20 --out $out/taneda-60s --quiet

# 7. The default method on Eterna100-v2 at 60 s with --seed 19 (new = 095c07c), against session 63's run.
PYTHONPATH=$new autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 2 --runs 1 --seed 19 --out $out/eterna-60s-s19 --quiet
autorl benchmark compare docs/results/i14ba/eterna-60s-shipped $out/eterna-60s-s19 > $out/eterna-60s-s19-compare.txt

#!/usr/bin/env bash
# Session 50: LEARNA's local improvement in the design loop, on (within distance 5, the
# default until session 50: the "*-default" and "*-li5" runs) against off (the default
# since: the "*-noli" runs), the other stages on. One run after the other, never two at
# once (2 cores). Run from the repository root with AUTORL_DATA set.
# (The first "noli" runs were made with `--config docs/results/i14an/no-local-improvement.json`
# before the option existed; it sets the same local_improvement 0 as `--local-improvement 0`.)
set -euo pipefail
out=docs/results/i14an
run() {  # name dataset time-limit seed extra-args...
  local name=$1 dataset=$2 limit=$3 seed=$4; shift 4
  autorl benchmark --dataset "$dataset" --method meta-learna-adapt "$@" --time-limit "$limit" \
    --workers 2 --runs 1 --seed "$seed" --out "$out/$name" --quiet
}
run eterna-noli          eterna100-v2          60 1 --local-improvement 0
run eterna-default       eterna100-v2          60 1 --local-improvement 5
run taneda-noli          rfam-taneda           60 1 --local-improvement 0
run taneda-default       rfam-taneda           60 1 --local-improvement 5
run rlv10-noli           rfam-learn-validation 10 1 --local-improvement 0
run rlv10-default        rfam-learn-validation 10 1 --local-improvement 5
run eterna-noli-seed2    eterna100-v2          60 2 --local-improvement 0
run eterna-default-seed2 eterna100-v2          60 2 --local-improvement 5
# The throughput of the policy's loop at 100 nt (stages off, as in the shipped
# configuration), local improvement on and off, back to back.
for d in 5 0; do
  python -m benchmarks.throughput --length 100 --seconds 20 --json \
    --config meta/models/meta-learna.json --local-improvement "$d" > "$out/throughput-li$d.json"
done
# Design under constraints (README's commands, --seed 0): local improvement off with and
# without constraints, and on with them.
constrained=(--constraint-fraction 0.1 --gc 0.4:0.6)
run rlv10-seed0-noli             rfam-learn-validation 10 0 --local-improvement 0
run rlv10-seed0-constrained-noli rfam-learn-validation 10 0 --local-improvement 0 "${constrained[@]}"
run rlv10-seed0-constrained-li5  rfam-learn-validation 10 0 --local-improvement 5 "${constrained[@]}"
# LEARNA from scratch, local improvement off (README's "RNA design benchmarks" goal: more
# than RNAinverse's 11/29).
autorl benchmark --dataset rfam-taneda --method learna --time-limit 60 --workers 2 --runs 1 \
  --seed 0 --out "$out/taneda-learna-noli" --quiet
autorl benchmark --dataset rfam-taneda --method learna --time-limit 60 --workers 2 --runs 1 \
  --seed 0 --local-improvement 5 --out "$out/taneda-learna-li5" --quiet
# Rfam-Learn validation at 60 s with the new default (the goal: >= 95/100 at 60 s).
run rlv60-noli rfam-learn-validation 60 1 --local-improvement 0

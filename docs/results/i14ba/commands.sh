#!/bin/bash
# Session 63's runs (docs/results/i14ba), from the repository's root, with AUTORL_DATA set.
# One job at a time (a benchmark pair: both runs at once, one worker each), nothing else
# running. The candidate is session 62's plain imitation model, made by
#   TEACHER_SECONDS=2 VALIDATE_EVERY=5 bash scripts/train_shipped_model.sh runs/plain
# (docs/results/i14az; the script's defaults since this session). The runs stayed outside
# the repository (runs/ here; /work/exp/s63 on the day); the files that say what they did
# were copied into this folder. autorl ran from a clean worktree: of e93d093 (session 52's
# model shipped) for steps 1-3, of 443637f (the plain model shipped) for steps 4-6 and of
# 939a982 (the same code and model) for step 8; step 7 edits the checkout itself.
set -e
out=docs/results/i14ba
git show e93d093:meta/models/meta-learna.zip > runs/s52.zip   # session 52's model
git show e93d093:meta/models/meta-learna.json > runs/s52.json

# 1. Eterna100-v2 at 60 s with the default method: session 52's model (then shipped)
#    beside the plain model, at once, one worker each.
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 18 --out $out/eterna-60s-s52 --quiet &
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --model runs/plain/run/best.zip --time-limit 60 --workers 1 --runs 1 --seed 18 --out $out/eterna-60s-plain --quiet &
wait
autorl benchmark compare $out/eterna-60s-s52 $out/eterna-60s-plain > $out/eterna-60s-compare.txt

# 2. The shipped-model rule (README, "The shipped model"): sampling only, 2 s a target, on
#    three generated sets that are not benchmarks.
python scripts/compare_models.py runs/s52.zip runs/plain/run/best.zip --local-improvement 0 \
  --data runs/plain/validation.txt docs/results/i14q/val-mfe.txt docs/results/i14q/heldout-mix40.txt \
  > $out/compare-models.json

# 3. Whether each policy reads its window (20 generated targets, 1,939 decision sites).
#    (On the day the first checkpoint was given as `shipped`, then session 52's model; the
#    JSON lines name it so, and compare-models.json names it by the worktree's path.)
python scripts/policy_context.py runs/s52.zip runs/plain/run/best.zip \
  --data docs/results/i14av/dev/hard60.txt --every 3 > $out/policy-context.jsonl

# 4. (443637f ships the plain model.) Rfam-Learn validation at 60 s with the default method
#    and the shipped model, as the README's goal command (two workers).
autorl benchmark --dataset rfam-learn-validation --method meta-learna-adapt --time-limit 60 --workers 2 --runs 1 --seed 18 --out $out/rlv-60s --quiet

# 5. The policy alone (no stage around it) on Eterna100-v2 at 10 s: session 52's model
#    beside the shipped one, at once, one worker each.
policy="--refine 0 --ensemble-share 0 --quick-starts 0"
autorl benchmark --dataset eterna100-v2 --method meta-learna $policy --model runs/s52.zip --time-limit 10 --workers 1 --runs 1 --seed 18 --out $out/eterna-10s-policy-s52 --quiet &
autorl benchmark --dataset eterna100-v2 --method meta-learna $policy --time-limit 10 --workers 1 --runs 1 --seed 18 --out $out/eterna-10s-policy-shipped --quiet &
wait
autorl benchmark compare $out/eterna-10s-policy-s52 $out/eterna-10s-policy-shipped > $out/eterna-10s-policy-compare.txt

# 6. The ensemble stage's policy prior (ensemble_prior 0.5 in prior.json: half of the
#    stage's letter draws follow the policy's probabilities; never benchmarked before, as
#    the policy was a constant), with the shipped model, beside the default, at once, one
#    worker each: first on 60 generated targets (not a benchmark) at 10 s, then
#    Eterna100-v2 at 60 s.
hard=docs/results/i14av/dev/hard60.txt
autorl benchmark --dataset $hard --method meta-learna-adapt --time-limit 10 --workers 1 --runs 1 --seed 18 --out $out/hard60-10s-shipped --quiet &
autorl benchmark --dataset $hard --method meta-learna-adapt --config $out/prior.json --time-limit 10 --workers 1 --runs 1 --seed 18 --out $out/hard60-10s-prior --quiet &
wait
autorl benchmark compare $out/hard60-10s-shipped $out/hard60-10s-prior > $out/hard60-10s-prior-compare.txt
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 19 --out $out/eterna-60s-shipped --quiet &
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --config $out/prior.json --time-limit 60 --workers 1 --runs 1 --seed 19 --out $out/eterna-60s-prior --quiet &
wait
autorl benchmark compare $out/eterna-60s-shipped $out/eterna-60s-prior > $out/eterna-60s-prior-compare.txt

# 7. The new tests fail when their feature breaks (a dev harness): the breaks of the
#    shipped model's record, then session 52's model put back in meta/models/ by hand
#    (both tests/test_shipped_model.py tests below fail with it; restored after).
python scripts/check_breaks.py $out/dev/breaks.json
cp runs/s52.zip meta/models/meta-learna.zip && cp runs/s52.json meta/models/meta-learna.json
python -m pytest -q tests/test_shipped_model.py || true
git checkout meta/models

# 8. Rfam-Taneda at 60 s with the default method, session 52's model beside the shipped one
#    (a second seed beside session 62's pair), at once, one worker each (a worktree of 939a982).
autorl benchmark --dataset rfam-taneda --method meta-learna-adapt --model runs/s52.zip --time-limit 60 --workers 1 --runs 1 --seed 19 --out $out/taneda-60s-s52 --quiet &
autorl benchmark --dataset rfam-taneda --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 19 --out $out/taneda-60s-shipped --quiet &
wait
autorl benchmark compare $out/taneda-60s-s52 $out/taneda-60s-shipped > $out/taneda-60s-compare.txt

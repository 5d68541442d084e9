#!/bin/bash
# Session 66's runs (docs/results/i14bd), from the repository's root, with AUTORL_DATA set.
# One job at a time, nothing else running, each from a clean worktree:
#   old = b58aeb1 (session 65's last commit), new = 9c6e9aa (structure energies through
#   ViennaRNA's energy_of_structure; neighbourhood draws in one call), w1 = 5fb912c (the
#   throughput benchmark's one-worker accounting; the design code is 9c6e9aa's).
# The runs went to /work/exp/s66 on the day; the files that say what they did were copied here.
set -e
out=docs/results/i14bd
# git worktree add -f /tmp/runA b58aeb1; git worktree add -f /tmp/runB 9c6e9aa; git worktree add -f /tmp/run 5fb912c

# 1. The ensemble stage alone on 60 generated hard targets (session 59's dev set, not a
#    benchmark), 10 s each, 2 at a time, with the design loop's stage settings: old, new,
#    old again (the second old run measures the machine's drift between the first two).
stage="--seconds 10 --decompose 0.3 --repair 1.0 --rivals 0.5 --neighbourhood 16384 --boost \
  --mfe-length 200 --grafts 0.2 --restart 100 --workers 2 --seed 500"
(cd /tmp/runA && python -m benchmarks.ensemble_stage /work/main/docs/results/i14av/dev/hard60.txt $stage) > $out/stage-ab/old.json
(cd /tmp/runB && python -m benchmarks.ensemble_stage /work/main/docs/results/i14av/dev/hard60.txt $stage) > $out/stage-ab/new.json
(cd /tmp/runA && python -m benchmarks.ensemble_stage /work/main/docs/results/i14av/dev/hard60.txt $stage) > $out/stage-ab/old2.json

# 2. Throughput with one worker (how each benchmark job runs its design loop), new accounting.
(cd /tmp/run && python -m benchmarks.throughput --length 100 --seconds 20 --json \
  --config meta/models/meta-learna.json --local-improvement 0 --workers 1) > $out/throughput-w1.json

# 3. The default method on Eterna100-v2 at 60 s, 2 jobs at a time, new code.
PYTHONPATH=/tmp/run autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 \
  --workers 2 --runs 1 --seed 21 --out $out/eterna-60s-s21 --quiet

#    and on Rfam-Taneda at 60 s.
PYTHONPATH=/tmp/run autorl benchmark --dataset rfam-taneda --method meta-learna-adapt --time-limit 60 \
  --workers 2 --runs 1 --seed 21 --out $out/taneda-60s-s21 --quiet
autorl benchmark compare docs/results/i14bc/eterna-60s $out/eterna-60s-s21 > $out/eterna-60s-compare.txt

# 4. Side harness: one structure_energies call, both paths.
python docs/results/i14bd/dev/energy_calls.py

# 5. The default method on Eterna100-v2 at 10 s, old then new, the same seed (old = b58aeb1,
#    new = a9cd0cb: 9c6e9aa's design code), 2 jobs at a time.
PYTHONPATH=/tmp/runA autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 10 \
  --workers 2 --runs 1 --seed 22 --out $out/eterna-10s-old --quiet
PYTHONPATH=/tmp/run autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 10 \
  --workers 2 --runs 1 --seed 22 --out $out/eterna-10s-new --quiet
autorl benchmark compare $out/eterna-10s-old $out/eterna-10s-new > $out/eterna-10s-compare.txt

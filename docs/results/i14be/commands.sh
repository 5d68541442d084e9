#!/bin/bash
# Session 67's runs (docs/results/i14be), from the repository's root, with AUTORL_DATA set.
# One job at a time, nothing else running, each from a clean worktree:
#   old = a4c04b7 (session 66's last commit), new = 0a7b096 (pieces that cannot close alone
#   are not searched alone), run = 99f86b5 (0a7b096's design code; the benchmark runs).
# The runs went to /work/exp/s67 on the day; the files that say what they did were copied here.
set -e
out=docs/results/i14be
# git worktree add -f /tmp/runA a4c04b7; git worktree add -f /tmp/runB 0a7b096; git worktree add -f /tmp/run 99f86b5

# 1. Side harnesses: how common the pieces are, and where one stage run's repairs go.
python $out/dev/pieces_alone.py $AUTORL_DATA/eterna100_v2.txt $AUTORL_DATA/rfam_taneda.txt \
  $AUTORL_DATA/rfam_learn_validation.txt docs/results/i14av/dev/hard60.txt
awk -F'\t' '$1==94' $AUTORL_DATA/eterna100_v2.txt > /tmp/e94.txt
(cd /tmp/runA && python /work/main/$out/dev/repair_log.py /tmp/e94.txt 30 0)

# 2. The ensemble stage alone on Eterna100-v2's 25 puzzles of at least 250 nt, 30 s each,
#    the design loop's stage settings: old, new, old again.
awk -F'\t' 'length($2)>=250' $AUTORL_DATA/eterna100_v2.txt > /tmp/elong.txt
stage="--seconds 30 --decompose 0.3 --repair 1.0 --rivals 0.5 --neighbourhood 16384 --boost \
  --mfe-length 200 --grafts 0.2 --restart 100 --workers 2 --seed 6720"
(cd /tmp/runA && python -m benchmarks.ensemble_stage /tmp/elong.txt $stage) > $out/stage-ab/old.json
(cd /tmp/runB && python -m benchmarks.ensemble_stage /tmp/elong.txt $stage) > $out/stage-ab/new.json
(cd /tmp/runA && python -m benchmarks.ensemble_stage /tmp/elong.txt $stage) > $out/stage-ab/old2.json
python $out/dev/compare_stage.py $out/stage-ab/old.json $out/stage-ab/new.json $out/stage-ab/old2.json

#    Generated long targets (not a benchmark) with at least one such piece were no test
#    (generated/long40.txt: the first 20 of each file below that have one, by
#    dev/pieces_alone.py's test); old and new at 20 s each:
autorl data generate --count 60 --out /tmp/long60.txt --min-length 250 --max-length 400 --source mixture --seed 6701 --workers 2
autorl data generate --count 200 --out /tmp/longg200.txt --min-length 250 --max-length 400 --source grammar --seed 6703 --workers 2
gen="--seconds 20 --decompose 0.3 --repair 1.0 --rivals 0.5 --neighbourhood 16384 --boost \
  --mfe-length 200 --grafts 0.2 --restart 100 --workers 2 --seed 6710"
(cd /tmp/runA && python -m benchmarks.ensemble_stage /work/main/$out/generated/long40.txt $gen) > $out/generated/old.json
(cd /tmp/runB && python -m benchmarks.ensemble_stage /work/main/$out/generated/long40.txt $gen) > $out/generated/new.json

# 3. The default method on Eterna100-v2 at 60 s, new code, two seeds, then old code with the
#    first seed; and Rfam-Taneda at 60 s, new code. 2 jobs at a time each.
PYTHONPATH=/tmp/run autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 \
  --workers 2 --runs 1 --seed 23 --out $out/eterna-60s-s23 --quiet
PYTHONPATH=/tmp/run autorl benchmark --dataset rfam-taneda --method meta-learna-adapt --time-limit 60 \
  --workers 2 --runs 1 --seed 23 --out $out/taneda-60s-s23 --quiet
PYTHONPATH=/tmp/run autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 \
  --workers 2 --runs 1 --seed 24 --out $out/eterna-60s-s24 --quiet
PYTHONPATH=/tmp/runA autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 \
  --workers 2 --runs 1 --seed 23 --out $out/eterna-60s-s23-old --quiet
PYTHONPATH=/tmp/runA autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 \
  --workers 2 --runs 1 --seed 24 --out $out/eterna-60s-s24-old --quiet
autorl benchmark compare $out/eterna-60s-s24-old $out/eterna-60s-s24 > $out/eterna-60s-compare-old-new-s24.txt
autorl benchmark compare docs/results/i14bd/eterna-60s-s21 $out/eterna-60s-s23 > $out/eterna-60s-compare-s21-s23.txt
autorl benchmark compare $out/eterna-60s-s23-old $out/eterna-60s-s23 > $out/eterna-60s-compare-old-new.txt

# 4. The breaks of this session's tests.
python scripts/check_breaks.py $out/dev/breaks.json

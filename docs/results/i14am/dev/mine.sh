#!/usr/bin/env bash
# Mine a dev set for the ensemble stage: generated targets (never a benchmark's) that are
# designable and that the stage alone solves in some runs and not in others. Run from the
# repository's root, nothing else running (2 cores). Writes into docs/results/i14am/dev.
set -euo pipefail
d=docs/results/i14am/dev
F="--repair 1 --rivals 0.5 --neighbourhood 16384 --decompose 0.3 --boost --mfe-length 200 --grafts 0.2 --restart 100"
autorl data generate --count 1200 --out /tmp/mine-pool.txt --min-length 30 --max-length 150 \
  --source ensemble --beta-scale 1.0 --seed 51 --workers 2 --quiet
# shellcheck disable=SC2086
python -m benchmarks.ensemble_stage /tmp/mine-pool.txt --seconds 1 --seed 7000 $F \
  --unsolved /tmp/mine-open1s.txt > "$d/filter-1s.json"
autorl data designable /tmp/mine-open1s.txt --quiet > "$d/undesignable.txt"
awk -F'\t' 'NR == FNR { proved[$2] = 1; next } !($1 in proved)' \
  "$d/undesignable.txt" /tmp/mine-open1s.txt > "$d/candidates.txt"
for seed in 8100 8200 8300; do
  # shellcheck disable=SC2086
  python -m benchmarks.ensemble_stage "$d/candidates.txt" --seconds 8 --seed "$seed" $F \
    > "$d/candidates-8s-seed$seed.json"
done
python "$d/pick_flips.py" "$d/candidates.txt" "$d"/candidates-8s-seed*.json > "$d/mined.txt"

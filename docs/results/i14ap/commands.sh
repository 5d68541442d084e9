#!/usr/bin/env bash
# Session 52: meta-training without local improvement, and the comparison that shipped it.
# Run from the project's root, one step at a time on a quiet machine (AUTORL_DATA set).
set -euo pipefail
OLD=${OLD:-s32.zip}   # session 32's model: git show de64144:meta/models/meta-learna.zip > s32.zip (and .json)
OUT=${OUT:-/work/exp/s52-noli}
D=docs/results/i14ap

# 1. Train (the script's defaults; it copies best.* into meta/models/ at the end).
bash scripts/train_shipped_model.sh "$OUT"
NEW="$OUT/run/best.zip"

# 2. Session 26's rule: generated sets, both models without local improvement.
python scripts/compare_models.py "$OLD" "$NEW" --local-improvement 0 \
  --data "$OUT/validation.txt" docs/results/i14q/val-mfe.txt docs/results/i14q/heldout-mix40.txt \
  > "$D/compare-li0.json"
for pair in "new:$NEW" "old:$OLD"; do
  autorl benchmark --dataset docs/results/i14q/heldout-mix40.txt --method meta-learna-adapt \
    --model "${pair#*:}" --time-limit 10 --workers 2 --runs 1 --seed 0 --out "$D/hm40-10s-${pair%%:*}" --quiet
done

# 3. The benchmarks, back to back.
for dataset in eterna100-v2 rfam-taneda rfam-learn-validation; do
  for pair in "new:$NEW" "old:$OLD"; do
    autorl benchmark --dataset "$dataset" --method meta-learna-adapt --model "${pair#*:}" \
      --time-limit 60 --workers 2 --runs 1 --seed 1 --out "$D/$dataset-60s-${pair%%:*}" --quiet
  done
done

# 4. Eterna100-v2 again with --seed 2, back to back.
for pair in "new:$NEW" "old:$OLD"; do
  autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --model "${pair#*:}" \
    --time-limit 60 --workers 2 --runs 1 --seed 2 --out "$D/eterna100-v2-60s-seed2-${pair%%:*}" --quiet
done

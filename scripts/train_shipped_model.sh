#!/usr/bin/env bash
# Train the Meta-LEARNA model that ships in meta/models/ (README: "The shipped model").
#
#   bash scripts/train_shipped_model.sh [OUT_DIR]      (default: runs/shipped-model)
#
# Everything is seeded; the budget is wall-clock time, so the step count depends on the
# machine. The shipped model was trained on 2 cores (AMD EPYC, no GPU) with the defaults
# below: TRAIN_SECONDS=4200 (70 minutes) and WORKERS=2. The benchmark files are looked up
# as usual (AUTORL_DATA, default ../shared/data beside the project) to refuse any overlap.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-runs/shipped-model}
TRAIN_SECONDS=${TRAIN_SECONDS:-4200}
WORKERS=${WORKERS:-2}
if [ -z "${AUTORL_DATA:-}" ] && [ -d ../shared/data ]; then
  export AUTORL_DATA="$(cd ../shared/data && pwd)"
fi
mkdir -p "$OUT"

# 1. Training and validation targets: MFE structures of random sequences (meta/training_data.py).
[ -f "$OUT/train.txt" ] || autorl data generate --count 3000 --min-length 50 --max-length 450 \
  --seed 1 --workers "$WORKERS" --out "$OUT/train.txt"
[ -f "$OUT/validation.txt" ] || autorl data generate --count 20 --min-length 50 --max-length 450 \
  --seed 2 --workers "$WORKERS" --out "$OUT/validation.txt"

# 2. Meta-training with the published Meta-LEARNA configuration; resumes if interrupted.
RESUME=""
[ -f "$OUT/run/latest.zip" ] && RESUME="--resume"
autorl meta-train --train-data "$OUT/train.txt" --validation-data "$OUT/validation.txt" \
  --validation-time 2 --validate-every 20 --checkpoint-every 5 \
  --time-limit "$TRAIN_SECONDS" --workers "$WORKERS" --seed 0 --out "$OUT/run" $RESUME

# 3. Ship the best validated checkpoint (zip + its JSON configuration).
cp "$OUT/run/best.zip" meta/models/meta-learna.zip
cp "$OUT/run/best.json" meta/models/meta-learna.json
echo "shipped: meta/models/meta-learna.zip ($(du -h meta/models/meta-learna.zip | cut -f1))"

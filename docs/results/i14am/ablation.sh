#!/usr/bin/env bash
# Session 49's ablation of issue 14's stages, today's code and shipped model, one after the
# other (never two at once: 2 cores). Run from the repository root with AUTORL_DATA set.
# Since session 50 the default runs without LEARNA's local improvement; these runs had it
# (distance 5), so every run below passes --local-improvement 5 to reproduce them.
set -euo pipefail
out=docs/results/i14am
run() {  # name dataset time-limit extra-args...
  local name=$1 dataset=$2 limit=$3; shift 3
  autorl benchmark --dataset "$dataset" "$@" --time-limit "$limit" --workers 2 --runs 1 \
    --seed 1 --local-improvement 5 --out "$out/$name" --quiet
}
stages_off=(--refine 0 --ensemble-share 0)
run eterna-default     eterna100-v2 60 --method meta-learna-adapt
run eterna-adapt       eterna100-v2 60 --method meta-learna-adapt "${stages_off[@]}"
run eterna-sampling    eterna100-v2 60 --method meta-learna "${stages_off[@]}"
run taneda-default     rfam-taneda 60 --method meta-learna-adapt
run taneda-adapt       rfam-taneda 60 --method meta-learna-adapt "${stages_off[@]}"
run taneda-sampling    rfam-taneda 60 --method meta-learna "${stages_off[@]}"
run rlv10-default      rfam-learn-validation 10 --method meta-learna-adapt
run rlv10-adapt        rfam-learn-validation 10 --method meta-learna-adapt "${stages_off[@]}"
run rlv10-sampling     rfam-learn-validation 10 --method meta-learna "${stages_off[@]}"

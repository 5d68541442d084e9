#!/usr/bin/env bash
# BOHB against random search and Hyperband on the cartpole task at the same wall time
# (issue 9's second goal): every optimizer x seed runs `autorl optimize` for the same
# --time-limit on 2 workers (one run at a time, interleaved by seed), then every incumbent
# is trained on fresh seeds by `autorl evaluate` (seeds 10000+, never seen by a search).
#
# Usage: scripts/compare_cartpole_optimizers.sh OUT [SECONDS_PER_RUN] [SEEDS] [EVAL_SEEDS]
# Re-running continues: finished optimizer runs are skipped, `evaluate --resume` skips runs.
set -euo pipefail
out=${1:?usage: $0 OUT [SECONDS_PER_RUN] [SEEDS] [EVAL_SEEDS]}
seconds=${2:-600}
seeds=${3:-3}
eval_seeds=${4:-5}
optimizers=(bohb random hyperband)
mkdir -p "$out"
configs=()
for ((seed = 0; seed < seeds; seed++)); do
  for opt in "${optimizers[@]}"; do
    run="$out/$opt-seed$seed"
    if [[ ! -f "$run/done" ]]; then
      rm -rf "$run"
      autorl optimize --task cartpole --budget-unit timesteps --optimizer "$opt" \
        --iterations 1000 --workers 2 --time-limit "$seconds" --seed "$seed" --out "$run" --quiet
      touch "$run/done"
    fi
    configs+=(--config "$run/incumbent.json" --label "$opt-seed$seed")
  done
done
resume=()
[[ -d "$out/evaluation" ]] && resume=(--resume)
autorl evaluate --task cartpole "${configs[@]}" --seeds "$eval_seeds" --timesteps 60000 \
  --workers 2 --out "$out/evaluation" --quiet "${resume[@]}"
python "$(dirname "$0")/summarize_optimizer_comparison.py" "$out"

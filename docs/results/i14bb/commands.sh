#!/bin/bash
# Session 64's runs (docs/results/i14bb), from the repository's root, with AUTORL_DATA set.
# One job at a time (a benchmark pair: both at once, one worker each), nothing else running,
# autorl from a clean worktree of 97d83b5 (steps 1-4) and of 37287b4 (step 5). The runs
# stayed outside the repository (runs/ here; /work/exp/s64 on the day); the files that say
# what they did were copied into this folder.
set -e
out=docs/results/i14bb

# 1. The shipped recipe with twice the training targets (TRAIN_COUNT=6000: seed 1's first
#    3,000 are the shipped model's own targets). The teacher's file for those first 3,000
#    was session 62's (the same command on the same targets), so only targets 3,001-6,000
#    were designed by the teacher this session (about 22 min; 2,769 of 3,000 solved):
mkdir -p runs/run6k
autorl data generate --count 6000 --min-length 50 --max-length 450 --seed 1 --workers 2 \
  --source mixture --mixture-weights mfe:0.4,ensemble:0.3,grammar:0.3 --out runs/run6k/train.txt
grep -v '^#' runs/run6k/train.txt | tail -n 3000 > runs/tail.txt
autorl design --target runs/tail.txt --method stages --time-limit 2 --workers 2 --format jsonl --quiet > runs/teacher_tail.jsonl || true
cat runs/plain/teacher.jsonl runs/teacher_tail.jsonl > runs/run6k/teacher.jsonl
cp runs/plain/validation.txt runs/run6k/validation.txt
TRAIN_COUNT=6000 bash scripts/train_shipped_model.sh runs/run6k   # (from a worktree: it copies best.* into its meta/models)
cp runs/run6k/run/imitation.csv runs/run6k/run/validation.csv $out/more/

# 2. The shipped-model rule: sampling 2 s a target on three generated sets.
python scripts/compare_models.py meta/models/meta-learna.zip runs/run6k/run/best.zip --local-improvement 0 \
  --data runs/plain/validation.txt docs/results/i14q/val-mfe.txt docs/results/i14q/heldout-mix40.txt \
  > $out/compare-models.json

# 3. The policy alone on Eterna100-v2 at 10 s: the shipped model beside the 6,000-target one.
policy="--method meta-learna --refine 0 --ensemble-share 0 --quick-starts 0"
autorl benchmark --dataset eterna100-v2 $policy --time-limit 10 --workers 1 --runs 1 --seed 18 --out $out/eterna-10s-policy-shipped --quiet &
autorl benchmark --dataset eterna100-v2 $policy --model runs/run6k/run/best.zip --time-limit 10 --workers 1 --runs 1 --seed 18 --out $out/eterna-10s-policy-6k --quiet &
wait
autorl benchmark compare $out/eterna-10s-policy-shipped $out/eterna-10s-policy-6k > $out/eterna-10s-policy-compare.txt

# 4. What the imitation can learn (side harness, not a user command): the shipped model's
#    accuracy on 500 teacher designs of targets it never saw (3,001-6,000), paired and
#    unpaired decisions apart.
python $out/dev/acc_split.py meta/models/meta-learna.zip runs/run6k/train.txt runs/teacher_tail.jsonl 500 > $out/acc-split.txt

# 4b. Labels with information at pairs (side harness): the teacher's solutions of targets of
#     at most 200 nt with each C-G flipped to G-C where the design stays a solution, and the
#     original solutions of the same targets; imitation alone on each (both at once; the
#     runs were stopped after imitated.zip and its validation), then the policy alone.
python $out/dev/canonical_pairs.py runs/run6k/teacher.jsonl 200 runs/canon200.jsonl runs/orig200.jsonl
for v in orig canon; do
  autorl meta-train --train-data runs/run6k/train.txt --validation-data runs/run6k/validation.txt \
    --validation-time 2 --validate-every 60 --checkpoint-every 5 --time-limit 900 --workers 1 \
    --n-steps 64 --seed 0 --out runs/im-$v --config docs/results/i14ap/incumbent-noli.json \
    --imitate runs/${v}200.jsonl --imitation-epochs 10 &
done
wait
for v in orig canon; do
  cp runs/im-$v/imitation.csv $out/canonical/imitation-$v.csv
  cp runs/im-$v/validation.csv $out/canonical/validation-$v.csv
  autorl benchmark --dataset eterna100-v2 $policy --model runs/im-$v/imitated.zip --time-limit 10 --workers 1 --runs 1 --seed 18 --out $out/eterna-10s-policy-${v}200 --quiet &
done
wait
autorl benchmark compare $out/eterna-10s-policy-orig200 $out/eterna-10s-policy-canon200 > $out/eterna-10s-policy-canonical-compare.txt

# 5. The throughput goal (ratio >= 0.8 at 100 nt), three times with the single fold
#    measurement of 97d83b5, then twice with 37287b4's bracketed repeats (--repeats 3, the
#    default now).
python -m benchmarks.throughput --length 100 --seconds 20 --json --config meta/models/meta-learna.json --local-improvement 0 >> $out/throughput.jsonl
python -m benchmarks.throughput --length 100 --seconds 20 --json --config meta/models/meta-learna.json --local-improvement 0 >> $out/throughput-repeats.jsonl

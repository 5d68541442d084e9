#!/bin/bash
# Session 61's runs (docs/results/i14ay), from the repository's root, with AUTORL_DATA set.
# One job at a time (the benchmark pairs: both arms at once, one worker each), nothing else
# running. The runs and models stayed outside the repository (runs/probe here); the files
# that say what they did were copied into this folder. autorl ran from worktrees of 8b82e93
# (the teacher) and 49be28e (the probe, its readings and the benchmarks).
set -e
out=docs/results/i14ay

# 0. The training and validation targets: scripts/train_shipped_model.sh's (seed 1 and 2),
#    the same files as sessions 59 and 60.
autorl data generate --count 3000 --min-length 50 --max-length 450 --seed 1 --workers 2 --source mixture --mixture-weights mfe:0.4,ensemble:0.3,grammar:0.3 --out runs/probe/train.txt --quiet
autorl data generate --count 20 --min-length 50 --max-length 450 --seed 2 --workers 2 --source mixture --mixture-weights mfe:0.4,ensemble:0.3,grammar:0.3 --out runs/probe/validation.txt --quiet

# 1. The teacher: the stages without a policy design every training target for 2 s.
#    (This session ran it in two parts, the first 399 targets and the other 2,601, and
#    joined the two files; one command does the same.)
autorl design --target runs/probe/train.txt --method stages --time-limit 2 --workers 2 --format jsonl --quiet > runs/probe/teacher.jsonl || true

# 2. The probe: the shipped model's recipe with observe_letters (session 60's letters.json),
#    imitating the teacher's solutions first (10 epochs), then PPO, 25 min in all.
autorl meta-train --train-data runs/probe/train.txt --validation-data runs/probe/validation.txt --validation-time 2 --validate-every 5 --checkpoint-every 5 --time-limit 1500 --workers 2 --seed 0 --out runs/probe/imitate-letters --config docs/results/i14ax/letters.json --imitate runs/probe/teacher.jsonl
cp runs/probe/imitate-letters/{validation.csv,imitation.csv} $out/imitate-letters/

# 3. Read it: whether the policy reads its window (policy_context.py), and sampling 2 s per
#    validation target beside the shipped model (compare_models.py).
P=runs/probe/imitate-letters
python scripts/policy_context.py meta/models/meta-learna.zip $P/imitated.zip $P/best.zip $P/latest.zip --data docs/results/i14av/dev/hard60.txt --every 3 > $out/imitate-letters/context.jsonl
python scripts/compare_models.py meta/models/meta-learna.zip $P/imitated.zip $P/best.zip $P/latest.zip --data runs/probe/validation.txt --local-improvement 0 > $out/imitate-letters/compare.txt

# 3b. The same imitation without the letters in the window (the shipped recipe itself),
#     imitation only (--timesteps 1: one PPO rollout after imitated.zip is written), read
#     beside the shipped model and the letters probe's imitated.zip in one call.
autorl meta-train --train-data runs/probe/train.txt --validation-data runs/probe/validation.txt --validation-time 2 --timesteps 1 --workers 2 --seed 0 --out runs/probe/imitate-plain --config docs/results/i14ap/incumbent-noli.json --imitate runs/probe/teacher.jsonl
cp runs/probe/imitate-plain/{validation.csv,imitation.csv} $out/imitate-plain/
python scripts/compare_models.py meta/models/meta-learna.zip runs/probe/imitate-plain/imitated.zip $P/imitated.zip --data runs/probe/validation.txt --local-improvement 0 > $out/imitate-plain/compare.txt
python scripts/policy_context.py runs/probe/imitate-plain/imitated.zip --data docs/results/i14av/dev/hard60.txt --every 3 > $out/imitate-plain/context.jsonl

# 4. The policy alone on the benchmark sets (sampling, no starts, no stages; session 58's
#    "sampling only" row), the shipped model and the probe's best checkpoint at once, one
#    worker each, 10 s per target. (The model ran from a copy of best.zip and best.json
#    outside the repository, /work/exp/s61/models/imitate-best.zip, which the results
#    record.)
policy="--refine 0 --ensemble-share 0 --quick-starts 0"
for set in rfam-learn-validation:rlv eterna100-v2:eterna rfam-taneda:taneda; do
  dataset=${set%%:*} name=${set##*:}
  autorl benchmark --dataset $dataset --method meta-learna $policy --time-limit 10 --workers 1 --runs 1 --seed 16 --out $out/$name-10s-shipped --quiet &
  autorl benchmark --dataset $dataset --method meta-learna $policy --model $P/best.zip --time-limit 10 --workers 1 --runs 1 --seed 16 --out $out/$name-10s-imitate --quiet &
  wait
  autorl benchmark compare $out/$name-10s-shipped $out/$name-10s-imitate > $out/$name-10s-compare.txt
done

# 4b. The default method (the stages around the policy, PPO on the target) with each model,
#     Rfam-Taneda at 60 s, at once, one worker each.
autorl benchmark --dataset rfam-taneda --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 16 --out $out/taneda-60s-default-shipped --quiet &
autorl benchmark --dataset rfam-taneda --method meta-learna-adapt --model $P/best.zip --time-limit 60 --workers 1 --runs 1 --seed 16 --out $out/taneda-60s-default-imitate --quiet &
wait
autorl benchmark compare $out/taneda-60s-default-shipped $out/taneda-60s-default-imitate > $out/taneda-60s-default-compare.txt
#     and Rfam-Learn validation at 10 s (from a worktree of 9f0c1a3; the same code)
autorl benchmark --dataset rfam-learn-validation --method meta-learna-adapt --time-limit 10 --workers 1 --runs 1 --seed 16 --out $out/rlv-10s-default-shipped --quiet &
autorl benchmark --dataset rfam-learn-validation --method meta-learna-adapt --model $P/best.zip --time-limit 10 --workers 1 --runs 1 --seed 16 --out $out/rlv-10s-default-imitate --quiet &
wait
autorl benchmark compare $out/rlv-10s-default-shipped $out/rlv-10s-default-imitate > $out/rlv-10s-default-compare.txt

# 5. The side harness of the prior bias (docs/results/i14ay/README.md, "The probe").
python $out/dev/clone_probe.py docs/results/i14ax/letters.json runs/probe/train.txt runs/probe/teacher.jsonl 300 1e-3 3 --no-prior
python $out/dev/clone_probe.py docs/results/i14ax/letters.json runs/probe/train.txt runs/probe/teacher.jsonl 300 1e-3 4

# 6. Each test of the session fails when its feature is broken on purpose (a dev harness).
python scripts/check_breaks.py $out/dev/breaks.json

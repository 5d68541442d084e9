#!/bin/bash
# Session 62's runs (docs/results/i14az), from the repository's root, with AUTORL_DATA set.
# One job at a time (the benchmark pair: both runs at once, one worker each), nothing else
# running. The runs and models stayed outside the repository (runs/ship and runs/plain
# here; /work/exp/s62 on the day); the files that say what they did were copied into this
# folder. autorl ran from a worktree of 5494570 (steps 1-4) or of 400e3ba (steps 6-7); both
# have the code of this session's final commit (the numpy-mirror commits were reverted).
set -e
out=docs/results/i14az

# 1. The letters model by the committed script: the training targets (the same files as
#    sessions 59-61), the teacher (the stages without a policy, 2 s a target, 22 min), 10
#    epochs of imitation, then PPO; 30 min of meta-training on 2 workers, validation every
#    5 min. The script ends by copying best.* into meta/models/ of the checkout it runs in.
CONFIG=docs/results/i14ax/letters.json TEACHER_SECONDS=2 VALIDATE_EVERY=5 bash scripts/train_shipped_model.sh runs/ship
cp runs/ship/run/{validation.csv,imitation.csv} $out/letters/

# 2. Eterna100-v2 at 60 s with the default method. Meant as the shipped model against the
#    letters model, both at once, one worker each; but step 1 had copied the letters model
#    into the worktree's meta/models/, so the first run's default model was the letters
#    model too (results.csv's `model` column: the same hash, 15f82042c893, in both): two
#    runs of the letters model.
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 17 --out $out/eterna-60s-letters-1 --quiet &
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --model runs/ship/run/best.zip --time-limit 60 --workers 1 --runs 1 --seed 17 --out $out/eterna-60s-letters-2 --quiet &
wait
autorl benchmark compare $out/eterna-60s-letters-1 $out/eterna-60s-letters-2 > $out/eterna-60s-letters-compare.txt

# 3. The design loop's throughput (issue 14's goal: ratio >= 0.8 at 100 nt) with the shipped
#    model's configuration, then with the letters model's, back to back.
for config in meta/models/meta-learna.json runs/ship/run/best.json; do
  python -m benchmarks.throughput --length 100 --seconds 20 --json --config $config --local-improvement 0 >> $out/throughput.jsonl
done

# 4. The same script with its default configuration (the shipped recipe, no letters) and
#    the same teacher: the plain imitation model (runs/plain got copies of runs/ship's
#    train.txt, validation.txt and teacher.jsonl first).
mkdir -p runs/plain && cp runs/ship/{train.txt,validation.txt,teacher.jsonl} runs/plain/
TEACHER_SECONDS=2 VALIDATE_EVERY=5 bash scripts/train_shipped_model.sh runs/plain
cp runs/plain/run/{validation.csv,imitation.csv} $out/plain/

# 5. Side harnesses (not user commands): the numpy mirror over 20 codes against torch, from a
#    worktree of c2dc58d (the mirror over 20 codes, reverted in 400e3ba); see dev/*.py.
python $out/dev/time_sampling.py runs/ship/run/best.zip runs/ship/validation.txt 16 600
NO_FIELD_TABLE=1 python $out/dev/time_sampling.py runs/ship/run/best.zip runs/ship/validation.txt 16 600
python $out/dev/time_sampling.py runs/ship/run/best.zip runs/ship/validation.txt 64 600
NO_FIELD_TABLE=1 python $out/dev/time_sampling.py runs/ship/run/best.zip runs/ship/validation.txt 64 600
python $out/dev/time_update.py runs/ship/run/best.zip runs/ship/validation.txt

# 6. The plain model with the default method beside the shipped model, Rfam-Taneda at 60 s,
#    at once, one worker each, from a clean worktree (its meta/models/ holds the shipped
#    model: results.csv's `model` column tells them apart).
autorl benchmark --dataset rfam-taneda --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 17 --out $out/taneda-60s-shipped --quiet &
autorl benchmark --dataset rfam-taneda --method meta-learna-adapt --model runs/plain/run/best.zip --time-limit 60 --workers 1 --runs 1 --seed 17 --out $out/taneda-60s-plain --quiet &
wait
autorl benchmark compare $out/taneda-60s-shipped $out/taneda-60s-plain > $out/taneda-60s-compare.txt

# 7. The policy alone on Rfam-Learn validation at 10 s beside the shipped model (session
#    58's "sampling only" flags), at once, one worker each, from the same clean worktree.
policy="--refine 0 --ensemble-share 0 --quick-starts 0"
autorl benchmark --dataset rfam-learn-validation --method meta-learna $policy --time-limit 10 --workers 1 --runs 1 --seed 17 --out $out/rlv-10s-policy-shipped --quiet &
autorl benchmark --dataset rfam-learn-validation --method meta-learna $policy --model runs/plain/run/best.zip --time-limit 10 --workers 1 --runs 1 --seed 17 --out $out/rlv-10s-policy-plain --quiet &
wait
autorl benchmark compare $out/rlv-10s-policy-shipped $out/rlv-10s-policy-plain > $out/rlv-10s-policy-compare.txt

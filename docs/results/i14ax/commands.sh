#!/bin/bash
# Session 60's runs (docs/results/i14ax), from the repository's root, with AUTORL_DATA set.
# Four 25-min meta-training probes of the shipped model's recipe, one at a time with
# nothing else running, 2 workers each; the runs and their models stayed outside the
# repository (runs/probe here); their validation.csv, the policy_context and compare
# outputs were copied into credit/, letters/, letters-entropy/ and fails/.
# autorl ran from worktrees of 25fcaac (site_credit), 9f3422c (observe_letters) and a24eae0
# (the constant-fails probe).
set -e
out=docs/results/i14ax

# 0. The training and validation targets: scripts/train_shipped_model.sh's (seed 1 and 2),
#    the same files as session 59's probe (docs/results/i14aw/commands.sh, section 4).
autorl data generate --count 3000 --min-length 50 --max-length 450 --seed 1 --workers 2 --source mixture --mixture-weights mfe:0.4,ensemble:0.3,grammar:0.3 --out runs/probe/train.txt --quiet
autorl data generate --count 20 --min-length 50 --max-length 450 --seed 2 --workers 2 --source mixture --mixture-weights mfe:0.4,ensemble:0.3,grammar:0.3 --out runs/probe/validation.txt --quiet

# 1. Per-site credit: site_credit 0.5, rollouts of 512 steps per env (most episodes end in
#    the rollout they start in, so most steps get their credit).
autorl meta-train --train-data runs/probe/train.txt --validation-data runs/probe/validation.txt --validation-time 2 --validate-every 5 --checkpoint-every 5 --time-limit 1500 --workers 2 --seed 0 --n-steps 512 --out runs/probe/credit --config $out/credit05.json

# 2. The window shows the letters written so far: observe_letters true.
autorl meta-train --train-data runs/probe/train.txt --validation-data runs/probe/validation.txt --validation-time 2 --validate-every 5 --checkpoint-every 5 --time-limit 1500 --workers 2 --seed 0 --out runs/probe/letters --config $out/letters.json

# 3. observe_letters with session 59's entropy bonus (entropy_coef 0.01).
autorl meta-train --train-data runs/probe/train.txt --validation-data runs/probe/validation.txt --validation-time 2 --validate-every 5 --checkpoint-every 5 --time-limit 1500 --workers 2 --seed 0 --out runs/probe/letters-entropy --config $out/letters-entropy01.json

# 4. For each probe P (credit, letters, letters-entropy): its validations, whether the policy
#    reads its window (policy_context.py), and sampling 2 s per validation target beside the
#    shipped model (compare_models.py).
for P in credit letters letters-entropy fails; do
  cp runs/probe/$P/validation.csv $out/$P/validation.csv
  python scripts/policy_context.py runs/probe/$P/best.zip runs/probe/$P/latest.zip --data docs/results/i14av/dev/hard60.txt --every 3 > $out/$P/context.jsonl
  python scripts/compare_models.py meta/models/meta-learna.zip runs/probe/$P/best.zip runs/probe/$P/latest.zip --data runs/probe/validation.txt --local-improvement 0 > $out/$P/compare.txt
done

# 5. Training targets on which the constant fails: the constant A/C-G design (action 1 at
#    every site) folded for every training target, those it does not solve kept (2,044 of
#    3,000; 16 of the 20 validation targets), and the shipped recipe meta-trained on them
#    alone (the validation targets unchanged). Read as in section 4 (P=fails).
python $out/dev/constant_fails.py runs/probe/validation.txt runs/probe/validation-fails.txt
python $out/dev/constant_fails.py runs/probe/train.txt runs/probe/train-fails.txt
autorl meta-train --train-data runs/probe/train-fails.txt --validation-data runs/probe/validation.txt --validation-time 2 --validate-every 5 --checkpoint-every 5 --time-limit 1500 --workers 2 --seed 0 --out runs/probe/fails --config docs/results/i14ap/incumbent-noli.json

# 5. Each test of the session fails when its feature is broken on purpose (a dev harness).
python scripts/check_breaks.py $out/dev/breaks.json

#!/bin/bash
# Session 58's runs (docs/results/i14av), from the repository's root, with AUTORL_DATA set.
# Each pair ran both arms at once, one worker each, nothing else running; autorl from a
# worktree of cbe3427 (the ablation pair) and of 070739e (the rest; its defaults are
# those of cbe3427: the screen it adds is off by default).
set -e
out=docs/results/i14av
policy="--refine 0 --ensemble-share 0 --quick-starts 0"  # no starts, no stages

# 1. The ablation, Eterna100-v2 at 60 s, --seed 14: the policy alone (sampling, then
#    adapting on the target), then today's default beside the screen (section 2).
autorl benchmark --dataset eterna100-v2 --method meta-learna $policy --time-limit 60 --workers 1 --runs 1 --seed 14 --out $out/eterna-60s-seed14-sampling --quiet &
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt $policy --time-limit 60 --workers 1 --runs 1 --seed 14 --out $out/eterna-60s-seed14-adapt --quiet &
wait
autorl benchmark compare $out/eterna-60s-seed14-adapt $out/eterna-60s-seed14-sampling

# 2. The screen (ensemble_screen 3) against the default, Eterna100-v2 at 60 s, --seed 14.
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 14 --out $out/eterna-60s-seed14-default --quiet &
autorl benchmark --dataset eterna100-v2 --method meta-learna-adapt --time-limit 60 --workers 1 --runs 1 --seed 14 --config $out/screen3.json --out $out/eterna-60s-seed14-screen3 --quiet &
wait
autorl benchmark compare $out/eterna-60s-seed14-screen3 $out/eterna-60s-seed14-default

# 3. The screen on generated targets (not a benchmark), the stage alone with the design
#    loop's stage settings: 300 targets of 80-199 nt, the 176 a 1-s stage left unsolved,
#    the first 60 of them (dev/hard60.txt) at 8 s each, screen off and 3 at once.
autorl data generate --count 300 --out gen300.txt --min-length 80 --max-length 199 --source ensemble --beta-scale 1.6 --seed 58 --quiet
stage="--rivals 0.5 --grafts 0.2 --boost --restart 100 --neighbourhood 16384 --repair 1"
python -m benchmarks.ensemble_stage gen300.txt --seconds 1 --seed 5800 $stage --unsolved hard.txt > /dev/null
head -60 hard.txt > $out/dev/hard60.txt
head -12 hard.txt > $out/dev/hard12.txt
python -m benchmarks.ensemble_stage $out/dev/hard60.txt --seconds 8 --seed 5900 $stage --workers 1 > $out/dev/screen0.json &
python -m benchmarks.ensemble_stage $out/dev/hard60.txt --seconds 8 --seed 5900 $stage --workers 1 --screen 3 > $out/dev/screen3.json &
wait
# Pool entries by excess over the farthest pool member (a dev harness, screen off).
PYTHONPATH=. python $out/dev/pool_entries.py $out/dev/hard12.txt 5

# 4. The ablation on the Rfam sets (--seed 14): the policy alone, then the default.
autorl benchmark --dataset rfam-taneda --method meta-learna $policy --time-limit 60 --workers 1 --runs 1 --seed 14 --out $out/taneda-60s-seed14-sampling --quiet &
autorl benchmark --dataset rfam-taneda --method meta-learna-adapt $policy --time-limit 60 --workers 1 --runs 1 --seed 14 --out $out/taneda-60s-seed14-adapt --quiet &
wait
autorl benchmark --dataset rfam-learn-validation --method meta-learna $policy --time-limit 10 --workers 1 --runs 1 --seed 14 --out $out/rlv-10s-seed14-sampling --quiet &
autorl benchmark --dataset rfam-learn-validation --method meta-learna-adapt $policy --time-limit 10 --workers 1 --runs 1 --seed 14 --out $out/rlv-10s-seed14-adapt --quiet &
wait
# (The default rows are earlier runs: ../i14au/taneda-60s-seed13-autorl and
# ../i14at/rlv-10s-seed10-first; the session's own default runs were stopped for time.)
for set in taneda-60s rlv-10s; do
  autorl benchmark compare $out/$set-seed14-adapt $out/$set-seed14-sampling
done

# Solved within t seconds, per run (a side harness reading the results.csv files).
python docs/results/i14as/dev/solved_within.py $out/eterna-60s-seed14-*/
python docs/results/i14as/dev/solved_within.py $out/taneda-60s-seed14-*/ $out/rlv-10s-seed14-*/ docs/results/i14au/taneda-60s-seed13-autorl docs/results/i14at/rlv-10s-seed10-first

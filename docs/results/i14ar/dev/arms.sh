#!/bin/bash
# Dev probe (session 54): burst budget and patience on session 53's dev27, 10 s, 3 seeds.
set -e
cd "$(dirname "$0")"
F="--repair 1 --rivals 0.5 --neighbourhood 16384 --decompose 0.3 --boost --mfe-length 200 --grafts 0.2 --restart 100"
for seed in 100 200 300; do
  PYTHONPATH=../../../.. python -m benchmarks.ensemble_stage dev27.txt --seconds 10 --seed $seed $F > none-s$seed.json
  PYTHONPATH=../../../.. python -m benchmarks.ensemble_stage dev27.txt --seconds 10 --seed $seed $F --negative 100 > neg100-s$seed.json
  PYTHONPATH=../../../.. python -m benchmarks.ensemble_stage dev27.txt --seconds 10 --seed $seed $F --negative 30 > neg30-s$seed.json
  PYTHONPATH=../../../.. python patience_run.py 100 dev27.txt --seconds 10 --seed $seed $F --negative 100 > neg100p100-s$seed.json
done

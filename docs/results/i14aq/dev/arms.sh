#!/bin/bash
# Dev probe (session 53): negative-design bursts with and without the subopt band, and none.
set -e
cd "$(dirname "$0")"
cat ../../i14al/dev/flips.txt ../../i14am/dev/mined.txt > dev27.txt  # generated targets, no benchmark's
F="--repair 1 --rivals 0.5 --neighbourhood 16384 --decompose 0.3 --boost --mfe-length 200 --grafts 0.2 --restart 100"
for seed in 100 200 300; do
  PYTHONPATH=../../../.. python -m benchmarks.ensemble_stage dev27.txt --seconds 10 --seed $seed $F > base-s$seed.json
  PYTHONPATH=../../../.. python band_run.py 1.0 dev27.txt --seconds 10 --seed $seed $F --negative 100 > band1-s$seed.json
  PYTHONPATH=../../../.. python band_run.py 0 dev27.txt --seconds 10 --seed $seed $F --negative 100 > band0-s$seed.json
done

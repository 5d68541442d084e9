"""The stage harness with NEIGHBOURHOOD_COST overridden (dev probe).

Usage: ``cost_run.py COST harness-args...``.
"""

import sys

import envs.ensemble_search as e
from benchmarks import ensemble_stage

e.NEIGHBOURHOOD_COST = float(sys.argv[1])
sys.exit(ensemble_stage.main(sys.argv[2:]))

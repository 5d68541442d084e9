"""Dev probe (session 54): the stage harness with the bursts' patience set.

Usage: ``patience_run.py PATIENCE harness-args...`` (evaluations a near-miss must stall
and the last burst must be past before a burst; the default is 20).
"""

import sys

from benchmarks import ensemble_stage
from envs import ensemble_search

ensemble_search.NEGATIVE_PATIENCE = int(sys.argv[1])
sys.exit(ensemble_stage.main(sys.argv[2:]))

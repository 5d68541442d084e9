"""The stage harness with the negative-design burst's band set: band_run.py BAND harness-args..."""

import functools
import sys

from benchmarks import ensemble_stage
from envs import ensemble_search
from envs.negative_design import NegativeDesign

ensemble_search.NegativeDesign = functools.partial(NegativeDesign, band=float(sys.argv[1]))
sys.exit(ensemble_stage.main(sys.argv[2:]))

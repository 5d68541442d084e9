"""The stage harness with pair-mixed restart starts (dev probe): mix_run.py SHARE harness-args...

A restart's fresh targeted start (``EnsembleSearch._fresh_start``) gives each pair, with
probability SHARE, another of its allowed options (A-U, U-A, G-U, U-G or the other G-C
orientation) instead of SAMFEO's G-C or C-G. Targeted starts put G-C on every pair, and
the defect-weighted site draws rarely change a pair that folds right, so a pair type that
traps the search (Eterna100-v2 puzzle 71's 10-63, session 48) comes back with every
restart; mixed starts vary it. The search's first starts are unchanged.
"""

import sys

from benchmarks import ensemble_stage
from envs.ensemble_search import EnsembleSearch

_fresh_start = EnsembleSearch._fresh_start


def mixed_start(self):
    """A fresh start with a share of its pairs given another allowed pair."""
    start = _fresh_start(self)
    if start is None:
        return None
    chars = list(start)
    pairs = [k for k, (_, partner) in enumerate(self.units) if partner >= 0]
    chosen = [k for k in pairs if len(self.options[k]) > 1 and self.rng.random() < SHARE]
    self._change_units(chars, chosen)
    mixed = "".join(chars)
    return start if mixed in self.seen or self._refused(mixed) else mixed


SHARE = float(sys.argv[1])
EnsembleSearch._fresh_start = mixed_start
sys.exit(ensemble_stage.main(sys.argv[2:]))

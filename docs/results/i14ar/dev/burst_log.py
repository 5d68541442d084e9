"""Dev probe (session 54): the rounds of each negative-design burst and where its folds fall.

Usage: ``burst_log.py LOG harness-args...``; appends one JSON line per burst to LOG.
"""

import json
import sys
import time

from benchmarks import ensemble_stage
from envs import negative_design

_run = negative_design.NegativeDesign.run
_round = negative_design.NegativeDesign._round
_probe = negative_design.NegativeDesign._probe


def _logged_round(self, *args, **kwargs):
    """Count the rounds."""
    self.log_rounds = getattr(self, "log_rounds", 0) + 1
    return _round(self, *args, **kwargs)


def _logged_probe(self, design):
    """Note the round of each fold."""
    self.log_folds = [*getattr(self, "log_folds", []), getattr(self, "log_rounds", 0)]
    return _probe(self, design)


def _logged_run(self, deadline):
    """Write one line per burst."""
    began = time.monotonic()
    result = _run(self, deadline)
    line = {
        "length": len(self.target),
        "units": len(self.searched),
        "seconds": round(time.monotonic() - began, 3),
        "budget": round(deadline - began, 3),
        "rounds": getattr(self, "log_rounds", 0),
        "fold_rounds": getattr(self, "log_folds", [])[1:],  # the first probe is the seed band
        "solved": result.solved,
    }
    with open(sys.argv[1], "a") as log:
        log.write(json.dumps(line) + "\n")
    return result


negative_design.NegativeDesign.run = _logged_run
negative_design.NegativeDesign._round = _logged_round
negative_design.NegativeDesign._probe = _logged_probe
sys.exit(ensemble_stage.main(sys.argv[2:]))

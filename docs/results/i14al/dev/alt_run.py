"""The stage harness with restarts alternating the objective (dev probe): alt_run.py harness-args...

Each restart of a full-evaluation search switches between the defect objective with defect
site draws and the probability objective with SAMFEO's softmax site draws.
"""

import sys

from benchmarks import ensemble_stage
from envs.ensemble_search import EnsembleSearch

_restart = EnsembleSearch._restart


def alternating(self):
    """Restart, then switch the objective for the next run (full evaluations only)."""
    _restart(self)
    if self.mfe_only:
        return
    if self.restarts % 2:
        self.objective, self.kinds, self.sites = "probability", ("probability",), "softmax"
    else:
        self.objective, self.kinds, self.sites = "defect", ("defect",), "defect"
    self.pools = [[] for _ in self.kinds]


EnsembleSearch._restart = alternating
sys.exit(ensemble_stage.main(sys.argv[1:]))

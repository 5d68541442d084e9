"""BOHB (Falkner, Klein, Hutter, ICML 2018): Hyperband budgets with a KDE model, on ConfigSpace.

- :mod:`autorl.bohb.hyperband`: budgets, brackets and successive halving.
- :mod:`autorl.bohb.kde`: the good/bad kernel densities per budget.
- :mod:`autorl.bohb.optimizer`: BOHB, Hyperband and random search (ask/tell).
- :mod:`autorl.bohb.executor`: trials in worker processes, with timeouts and failures.
- :mod:`autorl.bohb.runlog` and :mod:`autorl.bohb.run`: the resumable run log and run loop.
- :mod:`autorl.bohb.external`: SMAC3, Optuna and hpbandster behind the same ask/tell
  interface (:mod:`autorl.bohb.reference` drives hpbandster itself).
"""

from autorl.bohb.executor import TrialResult
from autorl.bohb.hyperband import Trial, bracket_plan, budgets
from autorl.bohb.optimizer import METHODS, BOHBConfig, Optimizer
from autorl.bohb.run import RunSummary, run

__all__ = [
    "METHODS",
    "BOHBConfig",
    "Optimizer",
    "RunSummary",
    "Trial",
    "TrialResult",
    "bracket_plan",
    "budgets",
    "run",
]

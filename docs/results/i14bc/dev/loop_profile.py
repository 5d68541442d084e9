"""Side harness (not a user command): how long the design loop's own designs take to fold.

Runs the throughput benchmark's loop (its first 100-nt target, seed 0; the shipped model's
configuration, local improvement off) with one worker, so the folds happen in this process,
for 20 s under cProfile, and prints the folds and the time in ``RNA.fold``.

Session 65, 20 s: 4,481 folds in 11.8 s and 4,353 in 11.5 s, 2.6 ms each, where the
benchmark's random 100-nt sequences took 5-6.5 ms (159-200 folds/s that day). The first
5 s alone: 675 folds at 5.3 ms each (the first designs fold as slowly as random ones).

Usage: python docs/results/i14bc/dev/loop_profile.py [SECONDS]
"""

import cProfile
import pstats
import sys

from benchmarks.throughput import benchmark_targets
from meta.config import LearnaConfig
from meta.design import design, warm_up

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
config = LearnaConfig.load("meta/models/meta-learna.json").updated({"local_improvement": 0})
target = benchmark_targets(100, 1, 0)[0]
warm_up()
profile = cProfile.Profile()
profile.enable()
result = design(
    target,
    config=config,
    time_limit=seconds,
    seed=0,
    num_solutions=2**31,
    device="cpu",
    workers=1,
    threads=1,
    metrics=False,
)
profile.disable()
stats = pstats.Stats(
    profile
).stats  # (file, line, name) -> (calls, primitive, tottime, cumtime, callers)
folds = [v for (_, _, name), v in stats.items() if name == "<built-in method RNA._RNA.fold>"]
calls, _, fold_seconds, _, _ = folds[0]
print(
    f"episodes {result.episodes}, folds {calls}, {fold_seconds:.1f} s in RNA.fold, "
    f"{1000 * fold_seconds / calls:.2f} ms per fold"
)

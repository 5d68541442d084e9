"""Side harness (not a user command): how many pieces cannot close alone, and the test's cost.

For every target of at least 150 nt in the files given, every subproblem the hierarchical
starts would visit (``envs.decomposition.subproblems``, 30 nt to 80 % of the target) is
tested with ``envs.designability.outer_pair_obstacle``; prints the pieces, those with a
proof against their closing pair, and the total and slowest test time.

Usage: ``python docs/results/i14be/dev/pieces_alone.py FILE...``
"""

import sys
import time
from pathlib import Path

from envs.decomposition import subproblems
from envs.designability import outer_pair_obstacle


def targets(path: str):
    """The (id, structure) pairs of a target file."""
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            parts = line.split("\t")
            yield parts[0], parts[-1]


for path in sys.argv[1:]:
    pieces = proved = 0
    began, slowest = time.perf_counter(), 0.0
    for _, target in targets(path):
        if len(target) < 150:
            continue
        for i, j in subproblems(target, 30, 0.8):
            start = time.perf_counter()
            proved += outer_pair_obstacle(target[i : j + 1]) is not None
            slowest = max(slowest, time.perf_counter() - start)
            pieces += 1
    print(
        f"{path}: {pieces} pieces, {proved} cannot close alone; "
        f"{time.perf_counter() - began:.2f} s in all, the slowest {slowest:.3f} s"
    )

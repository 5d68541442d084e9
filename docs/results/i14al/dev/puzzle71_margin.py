"""Whether Eterna100-v2 puzzle 71's outer two-pair helix can beat its own opening.

Reads the puzzle from ``$AUTORL_DATA/eterna100_v2.txt`` (nothing of the benchmark is
committed) and tests, with ``envs.designability.competitor_margin``, the target against
the target with the pairs 4-74 and 5-73 opened, once per letter pair at 10-63 (the inner
helix's closing pair, fixed by an IUPAC constraint): "proved" means every such sequence
folds lower into the opened structure (the margin is then the smallest E(target) -
E(opened)); otherwise the margin is that of the first sequence found that does not.
"""

from __future__ import annotations

import os

from envs.designability import competitor_margin
from envs.folding import CANONICAL_PAIRS


def main() -> None:
    """Print the test for each pair at 10-63."""
    path = os.path.join(os.environ.get("AUTORL_DATA", "../shared/data"), "eterna100_v2.txt")
    with open(path) as handle:
        target = next(line.split()[1] for line in handle if line.split()[:1] == ["71"])
    opened = target[:4] + ".." + target[6:73] + ".." + target[75:]
    for five, three in CANONICAL_PAIRS:
        codes = ["N"] * len(target)
        codes[10], codes[63] = five, three
        result = competitor_margin(target, opened, constraint="".join(codes))
        print(
            f"10-63 {five}-{three}: opened always lower: {result.proved}, "
            f"margin {result.margin:+.2f} kcal/mol, sites {list(result.sites)}"
        )


if __name__ == "__main__":
    main()

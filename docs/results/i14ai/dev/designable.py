"""Designable-by-construction dev targets: MFE structures of random GC-rich sequences.

Every target is the MFE structure of a known sequence (so it is designable, like every
Eterna100-V2 puzzle), with at least LONELY lonely pairs, ten pairs and two loops opened,
LOW-HIGH nt. Usage: python designable.py COUNT SEED [LONELY [LOW HIGH]] > FILE
(LONELY: fewest lonely pairs, 2; LOW-HIGH: 60-150; session 46 added them)
"""

import sys

import numpy as np
import RNA


def lonely_pairs(structure: str) -> int:
    """Pairs stacked on neither side."""
    table = RNA.ptable(structure)
    n = len(structure)
    count = 0
    for i in range(1, n + 1):
        j = table[i]
        if j > i:
            outer = i > 1 and table[i - 1] == j + 1
            inner = table[i + 1] == j - 1
            count += not outer and not inner
    return count


def main() -> None:
    """Print COUNT targets as id<TAB>structure lines."""
    count, seed = int(sys.argv[1]), int(sys.argv[2])
    fewest = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    low, high = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (60, 150)
    rng = np.random.default_rng(seed)
    made = 0
    while made < count:
        n = int(rng.integers(low, high + 1))
        seq = "".join(rng.choice(list("GCAU"), n, p=[0.3, 0.3, 0.2, 0.2]))
        structure, _ = RNA.fold(seq)
        hairpins = structure.count("(.") - structure.count("(.(")  # roughly: loops opened
        if lonely_pairs(structure) >= fewest and structure.count("(") >= 10 and hairpins >= 2:
            print(f"des-{seed}-{made:03d}\t{structure}")
            made += 1


if __name__ == "__main__":
    main()

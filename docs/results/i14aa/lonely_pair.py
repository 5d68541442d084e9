"""Session 36: can the letters around an unsolved design's missing pair make it form?

For one unsolved puzzle of a benchmark's results.csv (its design at distance 2: one
target pair missing), first every pair and letter for the pair and its three flanking
sites (384 assignments) scored by ``E(target) - E(competitor)``, the
competitor being the design's MFE structure; then 20 coordinate descents (the first from
the design, the others from random letters) over the units of the loop terms the two
structures do not share (the ensemble stage's neighbourhood), each folded at the end.

Usage (from the project's root)::

    python docs/results/i14aa/lonely_pair.py docs/results/i14z/eterna100-v2-60s-boost/results.csv 97
"""

from __future__ import annotations

import csv
import itertools
import sys

import numpy as np

from envs.constraints import assign, unit_index, unit_options, unit_value
from envs.folding import hamming, mfe_structure, structure_energies
from envs.neighbourhood import neighbourhood_units


def main() -> None:
    """Run the probe on the command line's arguments (see the module docstring)."""
    with open(sys.argv[1], newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["target_id"] == sys.argv[2])
    target, design, competitor = row["target"], row["sequence"], row["mfe_structure"]
    wrong = [k for k in range(len(target)) if target[k] != competitor[k]]
    print("sites that differ (0-based):", wrong)
    i, j = wrong[0], wrong[-1]

    def margin(sequence: str) -> float:
        ours, theirs = structure_energies(sequence, [target, competitor])
        return ours - theirs

    best = min(
        (margin(_write(design, {i: p[0], j: p[1], i + 1: a, j - 1: b, j + 1: c})), p, a, b, c)
        for p in ("GC", "CG", "AU", "UA", "GU", "UG")
        for a, b, c in itertools.product("ACGU", repeat=3)
    )
    print("best margin over the pair and its flanks:", best)
    units, options = unit_options(target, None, True)
    hood = neighbourhood_units(target, competitor, options, unit_index(units, len(target)))
    size = int(np.prod([len(options[k]) for k in hood]))
    print(f"neighbourhood: {len(hood)} units, {size} assignments")
    rng = np.random.default_rng(0)
    for restart in range(20):
        chars = list(design)
        if restart:
            for k in hood:
                assign(chars, units[k], options[k][rng.integers(len(options[k]))])
        current, improved = margin("".join(chars)), True
        while improved:
            improved = False
            for k in rng.permutation(hood):
                kept = unit_value(chars, units[k])
                choice, value = kept, current
                for option in options[k]:
                    assign(chars, units[k], option)
                    trial = margin("".join(chars))
                    if trial < value - 1e-9:
                        choice, value = option, trial
                assign(chars, units[k], choice)
                if choice != kept:
                    current, improved = value, True
        folded = mfe_structure("".join(chars))
        print(f"descent {restart}: margin {current:.2f}, distance {hamming(folded, target)}")


def _write(sequence: str, letters: dict[int, str]) -> str:
    chars = list(sequence)
    for site, letter in letters.items():
        if 0 <= site < len(chars):
            chars[site] = letter
    return "".join(chars)


if __name__ == "__main__":
    main()

"""Probe: the cost of ``envs.folding.structure_energies`` against the per-pair check it replaced.

Not part of the package. For random sequences of 40, 100 and 400 nt, takes 65 structures
sampled from a sequence's Boltzmann ensemble (a competitor walk's list: the target and 64
competitors) and times 300 calls on mutants of that sequence (3 sites changed, so some
structures have a pair the mutant cannot close), with today's function and with the code
before session 33 (a Python loop over every pair of every structure, then ViennaRNA's
evaluation), written out below. Both must give the same energies.

Usage (from the project's root)::

    python docs/results/i14x/structure_energies_timing.py
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np
import RNA

from envs.dot_bracket import pair_table
from envs.folding import CANONICAL_PAIRS, sample_structures, structure_energies


@functools.lru_cache(maxsize=4096)
def _base_pairs(structure: str) -> tuple[tuple[int, int], ...]:
    """The ``(i, j)`` pairs of a structure, cached per structure as the old code did."""
    return tuple((i, int(j)) for i, j in enumerate(pair_table(structure)) if j > i)


def before(sequence: str, structures: list[str]) -> list[float]:
    """``structure_energies`` as it was before session 33 (default energy model)."""
    for structure in structures:
        if len(structure) != len(sequence):
            raise ValueError("lengths differ")
    compound = RNA.fold_compound(sequence, RNA.md(), RNA.OPTION_EVAL_ONLY)
    letters = sequence.upper().replace("T", "U")
    return [
        float(compound.eval_structure(structure))
        if all(letters[i] + letters[j] in _PAIRS for i, j in _base_pairs(structure))
        else math.inf
        for structure in structures
    ]


_PAIRS = frozenset(CANONICAL_PAIRS)


def main() -> None:
    """Print the microseconds per call of both versions at each length."""
    rng = np.random.default_rng(1)
    for length in (40, 100, 400):
        source = "".join(rng.choice(list("ACGU"), length))
        structures = sample_structures(source, 65, 1)
        mutants = []
        for _ in range(300):
            chars = list(source)
            for site in rng.choice(length, 3, replace=False):
                chars[site] = str(rng.choice(list("ACGU")))
            mutants.append("".join(chars))
        assert all(before(m, structures) == structure_energies(m, structures) for m in mutants)
        for name, function in (("before", before), ("today", structure_energies)):
            start = time.perf_counter()
            for mutant in mutants:
                function(mutant, structures)
            micros = 1e6 * (time.perf_counter() - start) / len(mutants)
            print(f"{length} nt, 65 structures, {name}: {micros:.0f} us per call")


if __name__ == "__main__":
    main()

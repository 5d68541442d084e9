"""A test helper shared by the neighbourhood and negative-design tests: near-miss designs."""

from __future__ import annotations

import numpy as np

from envs.ensemble_search import EnsembleSearch
from envs.folding import hamming, mfe_structure


def near_miss(target: str, seed: int, gu_pairs: bool = True) -> tuple[str, str]:
    """A design at distance 1-4 of ``target`` and its MFE structure.

    Targeted starts and random sequences alternate, in a fixed order for ``seed``.
    """
    search = EnsembleSearch(target, np.random.default_rng(seed), gu_pairs=gu_pairs)
    rng = np.random.default_rng(seed)
    for trial in range(2000):
        if trial % 2:
            sequence = search.targeted_start()
        else:
            sequence = "".join(rng.choice(list("ACGU"), len(target)))
        structure = mfe_structure(sequence)
        if 0 < hamming(structure, target) <= 4:
            return sequence, structure
    raise AssertionError("no near-miss found")

"""Sources of training structures: MFE structures, Boltzmann samples, or a mixture.

Every source starts from the same random sequences (:mod:`meta.training_data`: candidate
``i`` draws its sequence from ``numpy.random.default_rng([seed, i])``) and differs only in
which structure of the sequence becomes a training target:

- ``mfe`` (the default): the minimum-free-energy structure (``RNA.fold``).
- ``ensemble``: one structure sampled from the sequence's Boltzmann ensemble (stochastic
  backtracking, :func:`envs.folding.sample_structures`; ``beta_scale`` < 1 samples colder
  ensembles, closer to MFE). ViennaRNA's generator is seeded per candidate from the
  candidate's numpy generator, so a sample is reproducible in any worker process.
- ``mixture``: per candidate, a sample with probability ``ensemble_fraction`` (default
  0.5), otherwise the MFE structure.

Measured statistics (:func:`structure_stats`; default settings, 50-450 nt, 300 structures
per source from seeds 1 and 2 with 150 each; ViennaRNA 2.8.0), beside the benchmark sets:

=====================  ======  ======  =======  ========  ==========  ========  ========
set                    lonely  with    hairpin  interior  multiloops  branches  paired
                       pairs   lonely  mean     mean      per 100 nt  mean      fraction
=====================  ======  ======  =======  ========  ==========  ========  ========
mfe                    0.015   0.64    5.90     3.27      0.68        3.83      0.59
ensemble               0.028   0.80    5.87     3.22      0.70        3.82      0.59
mixture (0.5)          0.021   0.71    5.85     3.27      0.70        3.83      0.59
rfam-learn-validation  0.017   0.79    5.64     3.45      0.59        4.25      0.63
rfam-taneda            0.009   0.24    8.54     6.19      0.43        3.54      0.47
eterna100-v2           0.038   0.33    4.77     4.05      1.26        3.94      0.53
=====================  ======  ======  =======  ========  ==========  ========  ========

(lonely pairs: pairs without a stacked neighbour over all pairs; with lonely: structures
with at least one; loop lengths in nt; maximum hairpin / interior loop: mfe 41 / 28,
ensemble 29 / 27, rfam-taneda 90 / 83, eterna100-v2 41 / 26.) Boltzmann sampling doubles
the lonely pairs (between Rfam-Learn and Eterna100) and makes most structures carry one
(as in Rfam-Learn, whose targets are MFE structures of natural sequences); it leaves loop
lengths, multiloops and the paired fraction where the MFE source has them. ``beta_scale``
moves the lonely pairs: 0.5 gives 0.017, 1.3 gives 0.046, 1.6 gives 0.070 (with fewer
pairs, 0.55). The long loops of Rfam-Taneda and the many multiloops of Eterna100 come from
neither source: they are not typical of thermodynamic structures of random sequences.

Documented ranges: :data:`ENSEMBLE_RANGES` and :data:`MFE_RANGES` hold, with margins for
sampling noise, for a sample of 80 or more structures at the default settings;
tests/test_structure_sources.py checks them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from envs.folding import EnergyModel, mfe_structure, sample_structures

#: The sources of training structures ``GeneratorSettings.source`` accepts.
SOURCES = ("mfe", "ensemble", "mixture")

#: Expected :func:`structure_stats` of the ``ensemble`` source (default settings, >= 80
#: structures): measured value +- sampling margin.
ENSEMBLE_RANGES: dict[str, tuple[float, float]] = {
    "lonely_pair_fraction": (0.018, 0.042),
    "with_lonely_pair": (0.65, 0.95),
    "hairpin_mean": (5.0, 6.8),
    "interior_mean": (2.7, 3.8),
    "multiloops_per_100nt": (0.5, 0.9),
    "multiloop_branches_mean": (3.4, 4.3),
    "mean_pair_fraction": (0.53, 0.64),
}

#: Expected :func:`structure_stats` of the ``mfe`` source, as :data:`ENSEMBLE_RANGES`.
MFE_RANGES: dict[str, tuple[float, float]] = {
    **ENSEMBLE_RANGES,
    "lonely_pair_fraction": (0.007, 0.024),
    "with_lonely_pair": (0.45, 0.8),
}


def candidate_structure(
    sequence: str,
    rng: np.random.Generator,
    source: str,
    ensemble_fraction: float = 0.5,
    beta_scale: float = 1.0,
    energy: EnergyModel | None = None,
) -> str:
    """The structure a candidate sequence contributes under ``source``.

    Args:
        sequence: The candidate's random sequence.
        rng: The candidate's generator, after the sequence was drawn from it. The ``mfe``
            source draws nothing; the others draw one number in [0, 1) (the mixture's
            coin) and then ViennaRNA's seed, so every source's sequences stay the same.
        source: ``mfe``, ``ensemble`` or ``mixture`` (see the module docstring).
        ensemble_fraction: Probability that a ``mixture`` candidate is sampled from the
            ensemble rather than folded to its MFE structure.
        beta_scale: ViennaRNA's ``betaScale`` of the sampled ensemble.
        energy: The energy model.

    Returns:
        A dot-bracket structure as long as ``sequence``.

    Raises:
        ValueError: an unknown source.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if source == "mfe":
        return mfe_structure(sequence, energy)
    coin = float(rng.random())
    vienna_seed = int(rng.integers(1, 2**31))
    if source == "mixture" and coin >= ensemble_fraction:
        return mfe_structure(sequence, energy)
    return sample_structures(sequence, 1, vienna_seed, energy, beta_scale)[0]


def _pairs(structure: str) -> list[int]:
    """Partner of every site (-1: unpaired)."""
    partner = [-1] * len(structure)
    stack: list[int] = []
    for j, char in enumerate(structure):
        if char == "(":
            stack.append(j)
        elif char == ")":
            i = stack.pop()
            partner[i], partner[j] = j, i
    return partner


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def structure_stats(structures: Sequence[str]) -> dict[str, float | int | None]:
    """Loop statistics of a set of pseudoknot-free structures (pooled over the set).

    Every base pair ``(i, j)`` closes one loop, found by walking ``i+1 .. j-1`` and jumping
    over inner pairs: no inner pair is a hairpin loop (its length ``j - i - 1``); one inner
    pair ``(p, q)`` is a stacked pair (``p = i+1, q = j-1``; no loop), a bulge (one side
    unpaired) or an interior loop (both sides; length ``p - i - 1 + j - q - 1``); two or
    more inner pairs make a multiloop, whose branches are its helices including the closing
    one (inner pairs + 1). The exterior loop is not counted.

    Args:
        structures: Dot-bracket structures (balanced ``()``, ``.``).

    Returns:
        ``structures``; ``mean_length``; ``mean_pair_fraction`` (mean of ``2 * pairs /
        length``); ``lonely_pair_fraction`` (pairs with neither ``(i-1, j+1)`` nor
        ``(i+1, j-1)`` paired, over all pairs); ``with_lonely_pair`` (fraction of
        structures with at least one lonely pair); ``hairpin_mean``, ``interior_mean``
        (bulges and interior loops) and ``hairpin_max``, ``interior_max``, loop lengths in
        nt; ``multiloops_per_100nt`` (multiloops over all nucleotides, times 100);
        ``multiloop_branches_mean``. A mean over no loops is None.
    """
    pairs = lonely = with_lonely = multiloops = nucleotides = 0
    fractions: list[float] = []
    hairpins: list[int] = []
    interiors: list[int] = []
    branches: list[int] = []
    for structure in structures:
        partner = _pairs(structure)
        n = len(structure)
        nucleotides += n
        own_pairs = own_lonely = 0
        for i, j in enumerate(partner):
            if j < i:
                continue
            own_pairs += 1
            outer = i > 0 and j + 1 < n and partner[i - 1] == j + 1
            inner = partner[i + 1] == j - 1
            own_lonely += not (outer or inner)
            inside: list[tuple[int, int]] = []
            k = i + 1
            while k < j:
                if partner[k] > k:
                    inside.append((k, partner[k]))
                    k = partner[k] + 1
                else:
                    k += 1
            if not inside:
                hairpins.append(j - i - 1)
            elif len(inside) == 1:
                p, q = inside[0]
                if (p, q) != (i + 1, j - 1):
                    interiors.append(p - i - 1 + j - q - 1)
            else:
                multiloops += 1
                branches.append(len(inside) + 1)
        pairs += own_pairs
        lonely += own_lonely
        with_lonely += own_lonely > 0
        fractions.append(2 * own_pairs / n if n else 0.0)
    count = len(structures)
    return {
        "structures": count,
        "mean_length": nucleotides / count if count else None,
        "mean_pair_fraction": _mean(fractions),
        "lonely_pair_fraction": lonely / pairs if pairs else None,
        "with_lonely_pair": with_lonely / count if count else None,
        "hairpin_mean": _mean(hairpins),
        "hairpin_max": max(hairpins, default=None),
        "interior_mean": _mean(interiors),
        "interior_max": max(interiors, default=None),
        "multiloops_per_100nt": 100 * multiloops / nucleotides if nucleotides else None,
        "multiloop_branches_mean": _mean(branches),
    }


def rounded(stats: dict[str, float | int | None], digits: int = 3) -> dict[str, object]:
    """``stats`` with floats rounded (for printing)."""
    return {
        key: round(value, digits) if isinstance(value, float) and math.isfinite(value) else value
        for key, value in stats.items()
    }

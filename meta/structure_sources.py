"""Sources of training structures: MFE structures, Boltzmann samples, grammar, mixtures.

Every source starts from the same random sequences (:mod:`meta.training_data`: candidate
``i`` draws its sequence from ``numpy.random.default_rng([seed, i])``) and differs only in
which structure of the sequence (or, for ``grammar``, of its length) becomes a training
target:

- ``mfe`` (the default): the minimum-free-energy structure (``RNA.fold``).
- ``ensemble``: one structure sampled from the sequence's Boltzmann ensemble (stochastic
  backtracking, :func:`envs.folding.sample_structures`; ``beta_scale`` < 1 samples colder
  ensembles, closer to MFE). ViennaRNA's generator is seeded per candidate from the
  candidate's numpy generator, so a sample is reproducible in any worker process.
- ``grammar``: the MFE structure of a sequence designed for a sketch of the candidate's
  length drawn from a stochastic loop grammar (:mod:`meta.structure_grammar`): long
  hairpin and interior loops, more multiloops, fewer pairs; realizable by construction.
- ``mixture``: per candidate, a sample with probability ``ensemble_fraction`` (default
  0.5), otherwise the MFE structure; or, with ``mixture_weights`` (e.g.
  ``mfe:0.4,ensemble:0.3,grammar:0.3``), any of ``ensemble``, ``grammar``, ``mfe`` by
  weight (the coin's shares laid out in that order, so ``ensemble:f,mfe:1-f`` is
  ``ensemble_fraction=f``).

Measured statistics (:func:`structure_stats`; default settings, 50-450 nt, 300 structures
per source from seeds 1 and 2 with 150 each; ViennaRNA 2.8.0), beside the benchmark sets:

=====================  ======  ======  =======  ========  ==========  ========  ========
set                    lonely  with    hairpin  interior  multiloops  branches  paired
                       pairs   lonely  mean     mean      per 100 nt  mean      fraction
=====================  ======  ======  =======  ========  ==========  ========  ========
mfe                    0.015   0.64    5.90     3.27      0.68        3.83      0.59
ensemble               0.028   0.80    5.87     3.22      0.70        3.82      0.59
mixture (0.5)          0.021   0.71    5.85     3.27      0.70        3.83      0.59
grammar                0.013   0.50    9.63     4.18      0.82        3.80      0.50
rfam-learn-validation  0.017   0.79    5.64     3.45      0.59        4.25      0.63
rfam-taneda            0.009   0.24    8.54     6.19      0.43        3.54      0.47
eterna100-v2           0.038   0.33    4.77     4.05      1.26        3.94      0.53
=====================  ======  ======  =======  ========  ==========  ========  ========

(lonely pairs: pairs without a stacked neighbour over all pairs; with lonely: structures
with at least one; loop lengths in nt; maximum hairpin / interior loop: mfe 41 / 28,
ensemble 29 / 27, grammar 66 / 30, rfam-taneda 90 / 83, eterna100-v2 41 / 26.) Boltzmann
sampling doubles the lonely pairs (between Rfam-Learn and Eterna100) and makes most
structures carry one
(as in Rfam-Learn, whose targets are MFE structures of natural sequences); it leaves loop
lengths, multiloops and the paired fraction where the MFE source has them. ``beta_scale``
moves the lonely pairs: 0.5 gives 0.017, 1.3 gives 0.046, 1.6 gives 0.070 (with fewer
pairs, 0.55). The long loops of Rfam-Taneda and the many multiloops of Eterna100 come from
neither: they are not typical of thermodynamic structures of random sequences.

The ``grammar`` source draws them (300 structures from seeds 1 and 2): hairpin loops
average 9.6 nt (mfe 5.9, Rfam-Taneda 8.5) with a tail to 66 nt, interior loops 4.2 nt (mfe
3.2), 0.82 multiloops per 100 nt (mfe 0.68; Eterna100 1.26) and a paired fraction of 0.50
(Rfam-Taneda 0.47, Eterna100 0.53). Refolding keeps most of the sketch (150 candidates,
seed 1): 88 % of the sketches' pairs are in the targets and 91 % of the targets' pairs
are the sketches', 95 % of the sites agree (14 % of targets are their sketch); sketch ->
target, hairpin loops 9.3 -> 9.0 nt, interior loops 3.9 -> 4.5 nt, multiloops 0.96 ->
0.81 per 100 nt, paired fraction 0.51 -> 0.50. The repair rounds matter: with none, 67 %
of the sketches' pairs stay (one round: 83 %). Lonely pairs survive worst (0.031 ->
0.012, about the MFE source's): mix in ``ensemble`` for more of them.

Speed (structures per second with one worker, 50-450 nt, default filters, 120 structures
per source and the grammar's 300, on a shared
2-core machine that was running a benchmark: relative values are what counts): mfe 9.9,
ensemble 3.3, grammar 4.6, mixture ``mfe:0.4,ensemble:0.3,grammar:0.3`` 5.3. A grammar
structure costs 1-3 folds (the repair rounds) of an easily folded sequence.

Documented ranges: :data:`ENSEMBLE_RANGES`, :data:`MFE_RANGES` and :data:`GRAMMAR_RANGES`
hold, with margins for sampling noise, for a sample of 80 or more structures at the default
settings (:data:`GRAMMAR_RANGES` also for 40 or more structures of 50-250 nt, the test's
faster sample); tests/test_structure_sources.py checks them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from envs.dot_bracket import is_lonely, loop_contents
from envs.folding import EnergyModel, mfe_structure, sample_structures
from meta.structure_grammar import grammar_structure

#: The sources of training structures ``GeneratorSettings.source`` accepts.
SOURCES = ("mfe", "ensemble", "grammar", "mixture")
#: The sources a ``mixture`` draws from, in the order their shares of the coin are laid out.
MIXED_SOURCES = ("ensemble", "grammar", "mfe")

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

#: Expected :func:`structure_stats` of the ``grammar`` source (>= 80 structures at the
#: default settings, or >= 40 of 50-250 nt): measured value +- sampling margin (five
#: samples of 40 of 50-250 nt gave hairpins 8.9-9.8 nt, interior loops 4.1-4.9 nt,
#: multiloops 0.66-0.76 per 100 nt; 300 of 50-450 nt: the table above).
GRAMMAR_RANGES: dict[str, tuple[float, float]] = {
    "lonely_pair_fraction": (0.005, 0.025),
    "with_lonely_pair": (0.2, 0.7),
    "hairpin_mean": (7.8, 11.5),
    "interior_mean": (3.5, 5.6),
    "multiloops_per_100nt": (0.5, 1.05),
    "multiloop_branches_mean": (3.0, 4.4),
    "mean_pair_fraction": (0.45, 0.56),
}


def parse_mixture(text: str) -> dict[str, float]:
    """Parse mixture weights such as ``mfe:0.4,ensemble:0.3,grammar:0.3``.

    Args:
        text: Comma-separated ``source:weight`` items over :data:`MIXED_SOURCES` (each at
            most once; weights >= 0, not all 0; they need not sum to 1).

    Returns:
        The weights normalised to sum 1, in the order of :data:`MIXED_SOURCES` (absent
        sources left out).

    Raises:
        ValueError: a malformed item, an unknown or repeated source, a bad weight.
    """
    weights: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = (part.strip() for part in item.partition(":"))
        if not sep or name not in MIXED_SOURCES:
            raise ValueError(
                f"mixture_weights must be name:weight items over {', '.join(MIXED_SOURCES)} "
                f"separated by commas (e.g. mfe:0.4,ensemble:0.3,grammar:0.3), got {text!r}"
            )
        if name in weights:
            raise ValueError(f"mixture_weights names {name} twice: {text!r}")
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"mixture_weights: the weight of {name} must be >= 0, got {value!r}")
        weights[name] = weight
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"mixture_weights must give some source a weight > 0, got {text!r}")
    return {name: weights[name] / total for name in MIXED_SOURCES if name in weights}


def format_mixture(weights: dict[str, float]) -> str:
    """The canonical text of normalised mixture weights (for file headers)."""
    return ",".join(f"{name}:{weight:g}" for name, weight in weights.items())


def _mixed_source(coin: float, weights: dict[str, float]) -> str:
    """The source whose share of [0, 1) (in :data:`MIXED_SOURCES` order) holds ``coin``."""
    edge = 0.0
    for name, weight in weights.items():
        edge += weight
        if coin < edge:
            return name
    return next(name for name in reversed(weights) if weights[name] > 0)


def candidate_structure(
    sequence: str,
    rng: np.random.Generator,
    source: str,
    ensemble_fraction: float = 0.5,
    beta_scale: float = 1.0,
    energy: EnergyModel | None = None,
    mixture_weights: dict[str, float] | None = None,
) -> str:
    """The structure a candidate sequence contributes under ``source``.

    Args:
        sequence: The candidate's random sequence (the ``grammar`` source takes only its
            length).
        rng: The candidate's generator, after the sequence was drawn from it. The ``mfe``
            source draws nothing; the others draw one number in [0, 1) (the mixture's
            coin) and then ViennaRNA's seed, so every source's sequences stay the same;
            the ``grammar`` source then draws its sketch and sequence.
        source: One of :data:`SOURCES` (see the module docstring).
        ensemble_fraction: Probability that a ``mixture`` candidate is sampled from the
            ensemble rather than folded to its MFE structure (without ``mixture_weights``).
        beta_scale: ViennaRNA's ``betaScale`` of the sampled ensemble.
        energy: The energy model.
        mixture_weights: Normalised weights of a ``mixture``'s sources
            (:func:`parse_mixture`); None mixes ``ensemble`` and ``mfe`` by
            ``ensemble_fraction``.

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
    if source == "mixture":
        if mixture_weights is None:
            mixture_weights = {"ensemble": ensemble_fraction, "mfe": 1 - ensemble_fraction}
        source = _mixed_source(coin, mixture_weights)
    if source == "mfe":
        return mfe_structure(sequence, energy)
    if source == "grammar":
        return grammar_structure(len(sequence), rng, energy)
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
            own_lonely += is_lonely(partner, i, j)
            inside, _ = loop_contents(partner, i, j)
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

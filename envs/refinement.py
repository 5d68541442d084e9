"""Refinement: an adaptive walk that finishes designs the policy left a few sites short.

Local improvement (LEARNA's) re-assigns only the mismatched sites, all at once. When the
mismatch is caused by a site it may not change (a base fixed by a sequence constraint
pairing where it should not) or needs a change next to it, it fails. Refinement is the
stage after it: a stochastic local search in the style of RNAinverse's adaptive walk.
Each step re-assigns one design unit (an unpaired site, or a target pair as a pair) drawn
from the mismatched sites or their neighbourhood (two sites either side), to another
option its IUPAC codes allow; a candidate outside the GC range or containing a forbidden
motif is skipped without folding. A step is kept when the distance does not grow, so the
walk drifts across neutral sequences instead of stopping at the first dead end. It ends at
distance 0, after its fold budget, or at a deadline, and returns the best design it saw.
"""

from __future__ import annotations

import time

import numpy as np

from envs.constraints import (
    DesignConstraints,
    assign,
    unit_index,
    unit_options,
    unit_value,
)
from envs.folding import EnergyModel, hamming, mfe_structure, mismatched_sites

#: Sites either side of a mismatched site whose units the walk may change.
NEIGHBOURHOOD = 2

#: Draws in a row that may be skipped (constraint-breaking candidates) before giving up.
_MAX_SKIPS = 200


def refine(
    sequence: str,
    structure: str,
    folded: str,
    rng: np.random.Generator,
    budget: int,
    gu_pairs: bool = False,
    deadline: float | None = None,
    constraints: DesignConstraints | None = None,
    energy: EnergyModel | None = None,
) -> tuple[str, str, int, int]:
    """Run the adaptive walk from ``sequence`` (see the module docstring).

    Args:
        sequence: The design (it must satisfy ``constraints``).
        structure: The target.
        folded: The MFE structure of ``sequence``.
        rng: Source of the moves.
        budget: Most folds to spend.
        gu_pairs: Allow GU and UG on target pairs.
        deadline: ``time.monotonic()`` value after which no further fold is started.
        constraints: Constraints every candidate keeps.
        energy: The energy model to fold under.

    Returns:
        ``(sequence, structure, distance, folds)`` of the best design seen (the input when
        nothing was better); it never has a larger distance than the input.
    """
    rules = constraints or DesignConstraints()
    units, options = unit_options(structure, rules.sequence, gu_pairs)
    unit_of = unit_index(units, len(structure))
    current, current_folded = sequence, folded
    distance = hamming(folded, structure)
    best = (sequence, folded, distance)
    folds = skips = 0
    while distance > 0 and folds < budget and skips < _MAX_SKIPS:
        if deadline is not None and time.monotonic() >= deadline:
            break
        move = _draw_move(current, current_folded, structure, units, options, unit_of, rng)
        if move is None:
            break
        candidate = move
        if rules.breaks_rules(candidate):
            skips += 1
            continue
        skips = 0
        candidate_folded = mfe_structure(candidate, energy)
        folds += 1
        candidate_distance = hamming(candidate_folded, structure)
        if candidate_distance <= distance:  # neutral moves too: drift, don't stall
            current, current_folded, distance = candidate, candidate_folded, candidate_distance
            if distance < best[2]:
                best = (current, current_folded, distance)
    return best[0], best[1], best[2], folds


def _draw_move(
    sequence: str,
    folded: str,
    structure: str,
    units: list[tuple[int, int]],
    options: list[tuple[str, ...]],
    unit_of: np.ndarray,
    rng: np.random.Generator,
) -> str | None:
    """One re-assigned unit: from the mismatched sites (half the time) or their neighbours."""
    mismatched = mismatched_sites(folded, structure)
    nearby = {
        j
        for i in mismatched
        for j in range(max(0, i - NEIGHBOURHOOD), min(len(structure), i + NEIGHBOURHOOD + 1))
    }
    movable = {int(unit_of[i]) for i in mismatched if len(options[unit_of[i]]) > 1}
    around = {int(unit_of[i]) for i in nearby if len(options[unit_of[i]]) > 1}
    pool = sorted(movable if movable and rng.random() < 0.5 else around or movable)
    if not pool:
        return None
    k = pool[int(rng.integers(len(pool)))]
    value = unit_value(sequence, units[k])
    alternatives = [option for option in options[k] if option != value]
    chars = list(sequence)
    assign(chars, units[k], alternatives[int(rng.integers(len(alternatives)))])
    return "".join(chars)

"""Baseline design methods: ViennaRNA's RNAinverse with random restarts.

RNAinverse cannot be interrupted in-process, so :func:`rnainverse` only checks its time
limit between restarts; the benchmark runner calls it inside a child process that it
terminates at the hard limit, keeping the best design reported through ``on_improvement``.

Under constraints, each walk starts from a sequence that meets the IUPAC codes, with the
sites they fix to one base written in lower case (RNAinverse keeps those); the walk's
result is then brought back onto the codes where RNAinverse changed a degenerate site,
GC and motif rules are repaired, and only a design that satisfies every constraint is
ever reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from envs.constraints import DesignConstraints, conform, repair, violations
from envs.dot_bracket import Target
from envs.folding import EnergyModel, hamming, inverse_fold, mfe_structure

NUCLEOTIDES = "ACGU"


@dataclass(frozen=True)
class BaselineResult:
    """The best design of a baseline so far.

    Attributes:
        target_id: The target's id.
        sequence: Best sequence found.
        distance: Hamming distance between its MFE structure and the target.
        solved: Whether the MFE structure is the target.
        seconds: Seconds from the start of the search to this design.
        restarts: RNAinverse calls made so far.
    """

    target_id: str
    sequence: str
    distance: int
    solved: bool
    seconds: float
    restarts: int


def random_sequence(length: int, rng: np.random.Generator) -> str:
    """A uniformly random RNA sequence (RNAinverse's default start)."""
    return "".join(NUCLEOTIDES[i] for i in rng.integers(0, 4, size=length))


def rnainverse(
    target: Target,
    *,
    time_limit: float,
    seed: int = 0,
    on_improvement: Callable[[BaselineResult], None] | None = None,
    constraints: DesignConstraints | None = None,
    energy: EnergyModel | None = None,
) -> BaselineResult:
    """RNAinverse from random start sequences, restarted until solved or out of time.

    Each restart is one uninterruptible RNAinverse adaptive walk: a walk that starts
    before the limit may end after it (the runner's hard limit cuts it off).

    Args:
        target: The target structure.
        time_limit: Seconds; no restart begins after this.
        seed: Seed of the start sequences (each walk is seeded from its start sequence).
        on_improvement: Called with the new best design whenever it improves.
        constraints: GC and motif rules (the IUPAC codes come from ``target.constraint``).
        energy: The energy model.

    Returns:
        The best design found (an empty sequence if no walk met the constraints).

    Raises:
        ValueError: ``time_limit`` is not positive.
    """
    if time_limit <= 0:
        raise ValueError(f"time_limit must be positive, got {time_limit}")
    rng = np.random.default_rng(seed)
    structure = target.structure
    rules = (constraints or DesignConstraints()).with_sequence(target.constraint)
    start_time = time.monotonic()
    best: BaselineResult | None = None
    restarts = 0
    while not (best is not None and best.solved) and (
        restarts == 0 or time.monotonic() - start_time < time_limit
    ):
        start = random_sequence(len(structure), rng)
        if rules.sequence is not None:
            start = _fixed_lowercase(conform(start, structure, rules.sequence, rng), rules.sequence)
        sequence, _ = inverse_fold(start, structure, energy)
        restarts += 1
        if not rules.empty:
            if rules.sequence is not None:
                sequence = conform(sequence, structure, rules.sequence, rng)
            sequence = repair(sequence, structure, rules, rng)
            if violations(sequence, rules):
                continue
        distance = hamming(mfe_structure(sequence, energy), structure)
        if best is None or distance < best.distance:
            best = BaselineResult(
                target_id=target.id,
                sequence=sequence,
                distance=distance,
                solved=distance == 0,
                seconds=time.monotonic() - start_time,
                restarts=restarts,
            )
            if on_improvement is not None:
                on_improvement(best)
    if best is None:
        return BaselineResult(target.id, "", len(structure), False, 0.0, restarts)
    return BaselineResult(
        target.id, best.sequence, best.distance, best.solved, best.seconds, restarts
    )


def _fixed_lowercase(sequence: str, code: str) -> str:
    """Lower-case the sites the IUPAC code fixes to one base: RNAinverse keeps them."""
    return "".join(s.lower() if c in "ACGU" else s for s, c in zip(sequence, code))

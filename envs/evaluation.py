"""Evaluating a design: fold it, then local improvement and refinement when it is close.

The LEARNA decision process ends with one evaluation per episode: the designed sequence is
repaired to meet GC and motif constraints, folded (under the job's energy model), and, when
it is a few sites off, improved by local improvement (LEARNA's) and then by the refinement
walk (:mod:`envs.refinement`). Every step keeps the design's constraints.

Module-level functions over plain tuples, away from torch and SB3, so that folding worker
processes (``envs.vector``) start quickly and can run them.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from envs.constraints import (
    DesignConstraints,
    assign,
    repair,
    unit_index,
    unit_options,
    violations,
)
from envs.dot_bracket import pair_table
from envs.folding import EnergyModel, hamming, mfe_structure, mismatched_sites
from envs.neighbourhood import Neighbourhood
from envs.refinement import refine

if TYPE_CHECKING:
    from envs.rna_design import RnaDesignConfig

#: The stages of the design loop a reported design can come from (its ``found_by``): the
#: policy's own design (after any constraint repair), local improvement, the refinement
#: walk (both change the policy's design in this module), the ensemble refinement
#: stage (:mod:`envs.ensemble_search`, run by the design loop between updates), and the
#: targeted starts the design loop folds before the policy (:mod:`envs.targeted_start`).
POLICY = "policy"
LOCAL_IMPROVEMENT = "local_improvement"
REFINEMENT = "refinement"
ENSEMBLE = "ensemble"
TARGETED_START = "targeted_start"
STAGES = (POLICY, LOCAL_IMPROVEMENT, REFINEMENT, ENSEMBLE, TARGETED_START)


@dataclass(frozen=True)
class DesignOutcome:
    """The evaluation of one designed sequence.

    Attributes:
        sequence: The final sequence (after local improvement, when it helped).
        structure: Its MFE structure.
        distance: Hamming distance between ``structure`` and the target.
        folds: Number of ``RNA.fold`` calls spent.
        valid: Whether ``sequence`` satisfies every constraint (a design that does not is
            never a solution).
        stage: Which stage made ``sequence`` (one of :data:`STAGES`): :data:`POLICY` for
            the episode's own design, :data:`LOCAL_IMPROVEMENT` or :data:`REFINEMENT`
            when that stage replaced it.
    """

    sequence: str
    structure: str
    distance: int
    folds: int
    valid: bool = True
    stage: str = POLICY

    @property
    def solved(self) -> bool:
        """Folds into the target and satisfies every constraint."""
        return self.distance == 0 and self.valid


def _site_options(
    structure: str,
    pairs: np.ndarray,
    sites: list[int],
    gu_pairs: bool,
    constraint: str | None = None,
):
    """Mutation units for the mismatched sites: a pair is mutated as a pair, once.

    Each unit's options are those its IUPAC codes allow (all, without a constraint).
    """
    all_units, all_options = unit_options(structure, constraint, gu_pairs)
    options_of = {site: option for (site, _), option in zip(all_units, all_options)}
    units: list[tuple[int, int]] = []
    seen: set[int] = set()
    for site in sites:
        partner = int(pairs[site])
        first = min(site, partner) if partner >= 0 else site
        if first in seen:
            continue
        seen.add(first)
        units.append((first, max(site, partner) if partner >= 0 else -1))
    return units, [options_of[first] for first, _ in units]


#: Ranked local improvement scores up to this many assignments per fold of its budget.
RANKED_POOL = 16

#: The orders in which local improvement folds its candidates.
LOCAL_IMPROVEMENT_ORDERS = ("energy", "screened", "enumeration")

#: Energies are multiples of 0.01 kcal/mol: a margin above this is above 0.
_MARGIN_TOLERANCE = 1e-6


def local_improvement(
    sequence: str,
    structure: str,
    folded: str,
    rng: np.random.Generator,
    budget: int,
    gu_pairs: bool = False,
    deadline: float | None = None,
    constraints: DesignConstraints | None = None,
    energy: EnergyModel | None = None,
    order: str = "screened",
) -> DesignOutcome:
    """Try assignments of the mismatched sites and keep the best sequence.

    Unlike the original LEARNA code, the improved sequence is returned, not only its
    distance. Paired target sites are mutated together with their partner as a valid pair.
    Under constraints only moves that keep every constraint are tried: the IUPAC codes
    limit each site's options, and a candidate outside the GC range or containing a
    forbidden motif is skipped without folding.

    The candidates are the assignments of the mismatched sites' units, at most ``budget``
    of them folded, in one of three orders:

    - ``"energy"``: up to ``RANKED_POOL * budget`` assignments (all when there are no
      more) are scored with evaluation-only energies by ``E(target) - E(folded)``; the
      ``budget`` best are folded best first, and every MFE structure a fold reveals is
      added to the energies they are ranked by (:class:`envs.neighbourhood.Neighbourhood`
      with the mismatched sites). A candidate that folds into the target has the lowest
      energy of all structures, so it ranks ahead of the candidates that still prefer a
      known competitor. When all assignments fit the budget, the candidates are those of
      ``"enumeration"`` and the distance reached is the same; the folds spent before a
      solution are fewer.
    - ``"screened"``: as ``"energy"``, but only candidates that can still fold into the
      target are folded: it stops when every candidate left has a known competitor of
      lower energy than the target (a margin above 0). A solution is never passed over;
      a candidate that would only have come closer may be, so when no solution is found
      the distance reached may be larger than ``"energy"``'s, for fewer folds.
    - ``"enumeration"``: every assignment in enumeration order when they fit the budget
      (LEARNA's exhaustive search), otherwise ``budget`` drawn at random.

    Args:
        sequence: The designed sequence.
        structure: The target structure.
        folded: The MFE structure of ``sequence``.
        rng: Source of randomness when the assignments exceed what is tried.
        budget: Most folds to spend.
        gu_pairs: Allow GU/UG when re-assigning pairs.
        deadline: ``time.monotonic()`` value after which no further fold is started.
        constraints: Constraints every candidate must keep.
        energy: The energy model to fold under.
        order: ``"screened"`` (the design loop's default), ``"energy"`` or
            ``"enumeration"`` (see above).

    Returns:
        The best outcome found (the original one if nothing was better).

    Raises:
        ValueError: an unknown ``order``.
    """
    if order not in LOCAL_IMPROVEMENT_ORDERS:
        raise ValueError(f"order must be one of {LOCAL_IMPROVEMENT_ORDERS}, got {order!r}")
    rules = constraints or DesignConstraints()
    best = DesignOutcome(sequence, folded, hamming(folded, structure), 0)
    if best.distance == 0:
        return best
    mismatched = mismatched_sites(folded, structure)
    if order in ("energy", "screened"):
        candidates: _Candidates = _Ranked(
            _neighbourhood(
                sequence, structure, folded, mismatched, rng, budget, gu_pairs, rules, energy
            ),
            _MARGIN_TOLERANCE if order == "screened" else math.inf,
        )
    else:
        candidates = _Enumerated(
            sequence, structure, mismatched, rng, budget, gu_pairs, rules.sequence
        )
    folds = 0
    while (deadline is None or time.monotonic() < deadline) and (
        candidate := candidates.next()
    ) is not None:
        if rules.breaks_rules(candidate):
            continue
        new_folded = mfe_structure(candidate, energy)
        folds += 1
        distance = hamming(new_folded, structure)
        if distance < best.distance:
            best = DesignOutcome(candidate, new_folded, distance, 0)
            if distance == 0:
                break
        candidates.add_competitor(new_folded)
    return DesignOutcome(best.sequence, best.structure, best.distance, folds)


class _Candidates(Protocol):
    """Local improvement's candidates, handed out one at a time."""

    def next(self) -> str | None:
        """The next candidate to fold (never the design itself; None: no more)."""

    def add_competitor(self, structure: str) -> None:
        """Learn the MFE structure of the last candidate folded."""


class _Enumerated:
    """The assignments of the mismatched sites' units in enumeration order (LEARNA's).

    Every assignment when they are at most ``budget``, otherwise ``budget`` drawn at
    random (with repeats).
    """

    def __init__(
        self,
        sequence: str,
        structure: str,
        mismatched: list[int],
        rng: np.random.Generator,
        budget: int,
        gu_pairs: bool,
        constraint: str | None,
    ):
        self.units, options = _site_options(
            structure, pair_table(structure), mismatched, gu_pairs, constraint
        )
        total = math.prod(len(o) for o in options)  # exact: 4**32 overflows int64
        if total <= budget:
            self._assignments: Iterator[tuple[str, ...]] = itertools.product(*options)
        else:
            self._assignments = (
                tuple(o[rng.integers(len(o))] for o in options) for _ in range(budget)
            )
        self.sequence = sequence

    def next(self) -> str | None:
        """The next assignment's sequence (the design itself is skipped)."""
        for assignment in self._assignments:
            chars = list(self.sequence)
            for unit, choice in zip(self.units, assignment):
                assign(chars, unit, choice)
            candidate = "".join(chars)
            if candidate != self.sequence:
                return candidate
        return None

    def add_competitor(self, structure: str) -> None:
        """The enumeration's order does not depend on what the folds reveal."""


class _Ranked:
    """A neighbourhood's candidates best first, those with a margin above ``max_margin`` never."""

    def __init__(self, hood: Neighbourhood, max_margin: float):
        self.hood, self.max_margin = hood, max_margin

    def next(self) -> str | None:
        """The best-ranked candidate left (None: none, or none within the margin)."""
        return self.hood.next(max_margin=self.max_margin)

    def add_competitor(self, structure: str) -> None:
        """Rank the candidates left against ``structure`` too."""
        self.hood.add_competitor(structure)


def _neighbourhood(
    sequence: str,
    structure: str,
    folded: str,
    mismatched: list[int],
    rng: np.random.Generator,
    budget: int,
    gu_pairs: bool,
    rules: DesignConstraints,
    energy: EnergyModel | None,
) -> Neighbourhood:
    """The ``budget`` best-ranked assignments of the mismatched sites' units."""
    units, options = unit_options(structure, rules.sequence, gu_pairs)
    return Neighbourhood(
        structure,
        sequence,
        folded,
        (),
        units,
        options,
        unit_index(units, len(structure)),
        rng,
        energy,
        max_assignments=RANKED_POOL * budget,
        keep=budget,
        sites=mismatched,
    )


#: One design to evaluate: ``(sequence, structure, config, seed)``, optionally followed by
#: its :class:`DesignConstraints` and :class:`EnergyModel`.
Job = tuple


def _unpack(
    job: Job,
) -> tuple[str, str, RnaDesignConfig, int, DesignConstraints, EnergyModel | None]:
    sequence, structure, config, seed, *rest = job
    constraints = rest[0] if rest and rest[0] is not None else DesignConstraints()
    energy = rest[1] if len(rest) > 1 else None
    return sequence, structure, config, seed, constraints, energy


def evaluate_design(
    sequence: str,
    structure: str,
    config: RnaDesignConfig,
    seed: int,
    constraints: DesignConstraints | None = None,
    energy: EnergyModel | None = None,
) -> DesignOutcome:
    """Fold a design, apply local improvement when it is close, and report the result.

    A module-level function so that worker processes can run it.

    Args:
        sequence: The designed sequence.
        structure: The target structure.
        config: Environment settings (local improvement threshold and budget).
        seed: Seed for the local improvement's random draws.
        constraints: What the design must satisfy (GC and motifs are repaired first).
        energy: The energy model to fold under (None: ViennaRNA's default).

    Returns:
        The outcome, counting every fold spent.
    """
    return evaluate_batch([(sequence, structure, config, seed, constraints, energy)])[0]


def evaluate_batch(
    jobs: list[Job],
    deadline: float | None = None,
    stop_at_solution: bool = False,
    refine: bool = True,
    improve: bool = True,
) -> list[DesignOutcome | None]:
    """:func:`evaluate_design` over ``(sequence, structure, config, seed[, constraints, energy])``.

    A design that breaks a GC or motif constraint is repaired first (:func:`envs.constraints.
    repair`, seeded by the job), then every design is folded; local improvement then runs
    on the close ones, closest first. A batch of 64 designs that are all close can cost
    thousands of folds (minutes on a 400 nt target), so a design loop may bound it: past
    ``deadline`` no further fold is started, and with ``stop_at_solution`` the batch ends
    at its first solved design: the designs after it are not folded (None), and no local
    improvement or walk runs. Without them, the outcomes are those of
    :func:`evaluate_design` on each job alone (each job's draws come from its own seed).

    Lives here, away from torch and SB3, so that folding worker processes start quickly.

    Args:
        jobs: One tuple per design.
        deadline: ``time.monotonic()`` value after which local improvement stops.
        stop_at_solution: End the batch at its first solved design (a run that wants one
            solution would spend the rest of the batch's folds for nothing: on a 116-nt
            target the 63 folds after a solution took 0.5 s).
        refine: Give the batch's closest near-miss the refinement walk (one per batch;
            a batch folded in pieces gets its walk from :func:`refine_closest` instead).
        improve: Apply local improvement (a batch folded in pieces gets it design by
            design from :func:`improve_design`, closest first over the whole batch).

    Returns:
        One outcome per job, in order, counting every fold spent; None for a design left
        unfolded after a solution (with ``stop_at_solution``).
    """
    unpacked = [_unpack(job) for job in jobs]
    outcomes: list[DesignOutcome] = []
    for index, (sequence, structure, config, seed, rules, energy) in enumerate(unpacked):
        if rules.needs_repair:
            repair_rng = np.random.default_rng([seed, 1])
            sequence = repair(sequence, structure, rules, repair_rng, config.gu_pairs)
            unpacked[index] = (sequence, structure, config, seed, rules, energy)
        folded = mfe_structure(sequence, energy)
        valid = rules.empty or not violations(sequence, rules)
        outcomes.append(DesignOutcome(sequence, folded, hamming(folded, structure), 1, valid))
        if stop_at_solution and outcomes[-1].solved:
            return [*outcomes, *[None] * (len(jobs) - len(outcomes))]
    for index in improvable(jobs, outcomes) if improve else []:
        if stop_at_solution and any(o.solved for o in outcomes):
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
        outcomes[index] = improve_design(jobs[index], outcomes[index], deadline)
    if refine:
        _refine_close(outcomes, unpacked, _walkable(outcomes, unpacked), deadline, stop_at_solution)
    return outcomes


def improvable(jobs: list[Job], outcomes: list[DesignOutcome | None]) -> list[int]:
    """Indices of the designs local improvement tries, closest first.

    Those are the valid designs within their job's ``local_improvement`` distance of the
    target (and not on it); None (a design not evaluated) is never one.
    """
    close = [
        index
        for index, (outcome, job) in enumerate(zip(outcomes, jobs))
        if outcome is not None
        and outcome.valid
        and 0 < outcome.distance <= _unpack(job)[2].local_improvement
    ]
    return sorted(close, key=lambda i: outcomes[i].distance)  # type: ignore[union-attr]


def improve_design(
    job: Job, outcome: DesignOutcome, deadline: float | None = None
) -> DesignOutcome:
    """Local improvement of one folded design, seeded by its job (as in a batch).

    A module-level function so that folding processes can run it, one design a unit.

    Args:
        job: The design's job.
        outcome: Its outcome from :func:`evaluate_batch` with ``improve=False`` (the
            sequence after any constraint repair, folded once).
        deadline: ``time.monotonic()`` value after which no further fold is started.

    Returns:
        The improved outcome, its folds added to the outcome's.
    """
    _, structure, config, seed, rules, energy = _unpack(job)
    improved = local_improvement(
        outcome.sequence,
        structure,
        outcome.structure,
        np.random.default_rng(seed),
        config.local_improvement_budget,
        config.gu_pairs,
        deadline,
        rules,
        energy,
        config.local_improvement_order,
    )
    stage = LOCAL_IMPROVEMENT if improved.sequence != outcome.sequence else outcome.stage
    return DesignOutcome(
        improved.sequence,
        improved.structure,
        improved.distance,
        outcome.folds + improved.folds,
        outcome.valid,
        stage,
    )


def refine_closest(
    jobs: list[Job],
    outcomes: list[DesignOutcome | None],
    deadline: float | None = None,
    stop_at_solution: bool = False,
) -> list[DesignOutcome | None]:
    """The refinement walk of a batch that was folded in pieces (``refine=False``).

    The walk goes to the batch's closest near-miss, as :func:`evaluate_batch` gives it to
    a batch folded in one piece: one walk per batch, whatever the pieces. Without this,
    each piece walked its own closest design, and a batch of 64 designs folded in 16
    pieces cost up to 16 walks (3,200 folds at the default budget) instead of one.

    Args:
        jobs: The batch's jobs, in order.
        outcomes: Their outcomes from ``evaluate_batch(piece, ..., refine=False)``, in
            the same order; None for a design that was not evaluated (skipped).
        deadline: ``time.monotonic()`` value after which no further fold is started.
        stop_at_solution: No walk when a design of the batch is solved.

    Returns:
        The outcomes, the walked design's replaced by its walk's result (folds added).
    """
    if len(jobs) != len(outcomes):
        raise ValueError(f"{len(jobs)} jobs but {len(outcomes)} outcomes")
    indices = [i for i, outcome in enumerate(outcomes) if outcome is not None]
    done: list[DesignOutcome] = [outcomes[i] for i in indices]  # type: ignore[misc]
    unpacked = [_unpack(jobs[i]) for i in indices]
    _refine_close(done, unpacked, _walkable(done, unpacked), deadline, stop_at_solution)
    result = list(outcomes)
    for index, outcome in zip(indices, done):
        result[index] = outcome
    return result


def _walkable(outcomes: list[DesignOutcome], jobs: list[tuple]) -> list[int]:
    """Indices of the valid designs within their job's refinement distance."""
    return [
        index
        for index, (outcome, job) in enumerate(zip(outcomes, jobs))
        if outcome.valid and 0 < outcome.distance <= job[2].refinement_distance
    ]


def _refine_close(
    outcomes: list[DesignOutcome],
    jobs: list[tuple],
    close: list[int],
    deadline: float | None,
    stop_at_solution: bool,
) -> None:
    """Refine the closest of the ``close`` designs (one per batch).

    One per batch keeps a batch's cost bounded by one refinement budget; the design loop
    sees many batches, each giving its best near-miss a walk.
    """
    candidates = [i for i in close if outcomes[i].distance > 0]
    if stop_at_solution and any(o.solved for o in outcomes):
        return
    for index in sorted(candidates, key=lambda i: outcomes[i].distance)[:1]:
        sequence, structure, config, seed, rules, energy = jobs[index]
        outcome = outcomes[index]
        if config.refinement_budget == 0:
            continue
        if deadline is not None and time.monotonic() >= deadline:
            break
        refined, folded, distance, folds = refine(
            outcome.sequence,
            structure,
            outcome.structure,
            np.random.default_rng([seed, 2]),
            config.refinement_budget,
            config.gu_pairs,
            deadline,
            rules,
            energy,
        )
        stage = REFINEMENT if refined != outcome.sequence else outcome.stage
        outcomes[index] = DesignOutcome(
            refined, folded, distance, outcome.folds + folds, outcome.valid, stage
        )

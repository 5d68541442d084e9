"""Every design of a near-miss's competitor neighbourhood, ranked by energies alone.

A near-miss folds into a competitor C instead of the target. ``E(target) - E(C)`` depends
only on the sites of the loop terms the two structures do not share
(:func:`envs.designability.term_sites`): for a competitor a pair or two off, the pairs
and mismatches of a few loops, 5-15 sites. The ensemble stage's competitor walk changes
one design unit (and sometimes a neighbour) at a time and keeps a change only when the gap
shrinks, so it cannot cross a change that needs two units at once, such as a terminal
lonely pair whose closing pair and loop letters must change together.

:class:`Neighbourhood` takes the joint step instead. It enumerates the design units of
those sites (an unpaired site's letters, a pair's pairs, within the IUPAC codes and the
wobble setting) on the near-miss's other letters: every assignment when there are at most
``max_assignments``, otherwise that many drawn at random. Each is scored by the margin
``E(target) - E(C)`` with evaluation-only energies (microseconds each, no folding); the
``keep`` best are then scored against every competitor known (``E(target)`` minus the
lowest competitor energy), and :meth:`Neighbourhood.next` hands them out best first.
Each one the caller folds either solves the target or reveals another competitor, which
:meth:`Neighbourhood.add_competitor` adds to every kept candidate's score, so the order
improves as the folds come in: negative design by enumeration over a small site set,
cutting off one competitor per fold.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Iterable

import numpy as np

from envs.constraints import assign
from envs.designability import term_sites
from envs.folding import EnergyModel, structure_energies

#: Assignments a neighbourhood scores at most (more: drawn at random).
DEFAULT_MAX_ASSIGNMENTS = 16384
#: Candidates kept after the first scoring, and scored against every competitor.
DEFAULT_KEEP = 128


class Neighbourhood:
    """The ranked designs of one near-miss's competitor neighbourhood (module docstring).

    Args:
        target: The target structure.
        design: The near-miss (its letters outside the neighbourhood are kept).
        competitor: The near-miss's MFE structure (not the target).
        competitors: Other competitor structures known (they rank the kept candidates).
        units: The target's design units (:func:`envs.constraints.unit_options`).
        options: The options of each unit.
        unit_of: The unit of each site (:func:`envs.constraints.unit_index`).
        rng: Draws the assignments when there are more than ``max_assignments``.
        energy: The energy model.
        max_assignments: Most assignments scored.
        keep: Candidates kept for the second scoring.
        sites: Enumerate the units of these sites instead (default: the sites of the loop
            terms the target and the competitor do not share). Local improvement passes
            the mismatched sites.

    Raises:
        ValueError: the competitor is the target, lengths differ, or a setting is < 1.
    """

    def __init__(
        self,
        target: str,
        design: str,
        competitor: str,
        competitors: Iterable[str],
        units: list[tuple[int, int]],
        options: list[tuple[str, ...]],
        unit_of: np.ndarray,
        rng: np.random.Generator,
        energy: EnergyModel | None = None,
        max_assignments: int = DEFAULT_MAX_ASSIGNMENTS,
        keep: int = DEFAULT_KEEP,
        sites: Collection[int] | None = None,
    ):
        check_near_miss(target, design, competitor)
        if max_assignments < 1 or keep < 1:
            raise ValueError(
                f"max_assignments and keep must be >= 1, got {max_assignments}, {keep}"
            )
        self.target = target
        self.origin = design
        self.energy = energy
        #: Indices (into ``units``) of the enumerated units.
        self.units = neighbourhood_units(target, competitor, options, unit_of, sites)
        unit_options = [options[k] for k in self.units]
        #: Assignments the neighbourhood holds (the product of its units' options).
        self.size = math.prod(len(o) for o in unit_options)
        designs = _designs(
            design, [units[k] for k in self.units], unit_options, rng, max_assignments
        )
        designs.discard(design)
        self.scored = len(designs)
        ordered = sorted(designs)
        ours, theirs = _energies(ordered, target, competitor, energy)
        order = sorted(range(len(ordered)), key=lambda k: _margin(ours[k], theirs[k]))[:keep]
        self.candidates = [ordered[k] for k in order]
        others = [c for c in dict.fromkeys(competitors) if c not in (competitor, target)]
        self._target_energy = np.array([ours[k] for k in order])
        self._lowest = np.array([theirs[k] for k in order])
        if others and self.candidates:  # one evaluation compound per candidate for them all
            rival = [min(structure_energies(c, others, energy)) for c in self.candidates]
            self._lowest = np.minimum(self._lowest, rival)
        #: The competitor structures the candidates are scored against.
        self.competitors = {competitor, *others}
        self._handed = np.zeros(len(self.candidates), dtype=bool)

    @property
    def margins(self) -> np.ndarray:
        """Each kept candidate's ``E(target)`` minus its lowest known competitor energy.

        ``inf`` when the candidate cannot form the target (a pair it cannot close, see
        :func:`envs.folding.structure_energies`), ``-inf`` when it can form none of the
        competitors.
        """
        with np.errstate(invalid="ignore"):
            margins = self._target_energy - self._lowest
        return np.where(np.isinf(self._target_energy), np.inf, margins)

    def next(
        self, skip: set[str] | frozenset[str] = frozenset(), max_margin: float = math.inf
    ) -> str | None:
        """The best-scored candidate not handed out yet and not in ``skip`` (None: none).

        Args:
            skip: Candidates not to hand out (they are passed over, and count as handed).
            max_margin: Hand out only a candidate whose margin is at most this (None
                when the best one's is above). A candidate whose margin is above 0 has a
                known competitor of lower energy than the target: it cannot fold into it.
        """
        margins = self.margins
        left = np.flatnonzero(~self._handed)
        for k in left[np.argsort(margins[left], kind="stable")]:
            if margins[k] > max_margin:
                return None
            self._handed[k] = True
            if self.candidates[k] not in skip:
                return self.candidates[k]
        return None

    def add_competitor(self, structure: str) -> None:
        """Score every kept candidate against one more competitor (ignored if known)."""
        if structure == self.target or structure in self.competitors or not self.candidates:
            return
        self.competitors.add(structure)
        energies = np.array(
            [structure_energies(c, [structure], self.energy)[0] for c in self.candidates]
        )
        self._lowest = np.minimum(self._lowest, energies)


def check_near_miss(target: str, design: str, competitor: str) -> None:
    """Raise a ValueError unless ``design`` (folding into ``competitor``) is a near-miss.

    Raises:
        ValueError: the competitor is the target, or the three lengths differ.
    """
    if competitor == target:
        raise ValueError("the competitor is the target: the design is no near-miss")
    if not len(design) == len(competitor) == len(target):
        raise ValueError(
            f"target ({len(target)} nt), design ({len(design)}) and competitor "
            f"({len(competitor)}) differ in length"
        )


def neighbourhood_units(
    target: str,
    competitor: str,
    options: list[tuple[str, ...]],
    unit_of: np.ndarray,
    sites: Collection[int] | None = None,
) -> list[int]:
    """The units (indices) ``E(target) - E(competitor)`` depends on that have a choice.

    With ``sites``, the units of those sites that have a choice instead.
    """
    if sites is None:
        sites = term_sites(target, competitor)
    units = {int(unit_of[s]) for s in sites}
    return sorted(k for k in units if len(options[k]) > 1)


def _designs(
    design: str,
    units: list[tuple[int, int]],
    options: list[tuple[str, ...]],
    rng: np.random.Generator,
    max_assignments: int,
) -> set[str]:
    """``design`` with every assignment of ``units`` (or ``max_assignments`` drawn)."""
    if math.prod(len(o) for o in options) <= max_assignments:
        assignments: Iterable[tuple[str, ...]] = itertools.product(*options)
    else:  # one draw for them all (a draw per option: 0.55 s for 16,384 assignments of 14 units)
        draws = rng.integers(0, [len(o) for o in options], size=(max_assignments, len(options)))
        assignments = (tuple(o[k] for o, k in zip(options, row)) for row in draws.tolist())
    designs = set()
    for assignment in assignments:
        chars = list(design)
        for unit, value in zip(units, assignment):
            assign(chars, unit, value)
        designs.add("".join(chars))
    return designs


def _margin(ours: float, theirs: float) -> float:
    """``ours - theirs``; ``inf`` when the target cannot form (``ours`` is ``inf``)."""
    return math.inf if math.isinf(ours) else ours - theirs


def _energies(
    designs: list[str], target: str, competitor: str, energy: EnergyModel | None
) -> tuple[list[float], list[float]]:
    """Per design: ``E(target)`` and ``E(competitor)``."""
    ours, theirs = [], []
    for design in designs:
        mine, other = structure_energies(design, [target, competitor], energy)
        ours.append(mine)
        theirs.append(other)
    return ours, theirs

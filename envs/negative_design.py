"""Local negative design: cut a near-miss's competitors off one MFE fold at a time.

A near-miss folds into a competitor C instead of the target. Whether the target can beat C
depends only on the sites of the loop terms the two structures do not share
(:func:`envs.designability.term_sites`), but a design that beats C usually folds into
another competitor, then another: the target has to be below all of them at once.
:class:`NegativeDesign` searches for that directly, by constraint generation (the cutting
planes of integer programming, with folds as the separation oracle):

1. The search sites are C's unshared term sites and every site of a target loop term that
   touches them (one ring around the difference: the loops whose mismatches and closing
   pairs set the local energies). Only the design units of those sites change.
2. Simulated annealing over those units minimises ``E(target) - min_k E(C_k)`` over the
   competitors known, with evaluation-only energies (microseconds each, no folding).
3. After each round of proposals, if the target is below every known competitor, the
   design is folded. Either it folds into the target (solved), or its MFE structure and
   every structure within :data:`BAND` of it (ViennaRNA's suboptimal folding, about the
   cost of the MFE fold alone for a narrow band) join the set, and the annealing goes on.
   The near-miss's own band seeds the set.

Each fold cuts off a band of competitors, the ones a small change would make the MFE
structure next, instead of one (session 53: on a mined dev set of 27 generated targets
the stage with bursts solved 68 of 81 runs with the band, 64 with the MFE structure
alone, and 57 without bursts); the annealing's state carries over between folds, so
the search moves through designs the other competitors' cuts allow. This is the step the
ensemble stage's competitor walk (greedy, whole target, each walk evaluated with the
partition function) and its neighbourhood steps (the competitor's own sites, one
competitor at a time) do not take. The stage runs it as a burst from a stalled near-miss
(:class:`envs.ensemble_search.EnsembleSearch`, ``negative``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from envs.constraints import assign, unit_value
from envs.designability import loop_terms, term_sites
from envs.folding import (
    EnergyModel,
    check_band,
    fold,
    hamming,
    structure_energies,
    suboptimal_structures,
)
from envs.neighbourhood import check_near_miss

#: Proposals per round, per unit searched; a round ends with at most one fold.
PROPOSALS_PER_UNIT = 12
#: Annealing temperature (kcal/mol) at the start, its factor per round, and its floor.
START_TEMPERATURE = 1.0
COOLING = 0.97
FLOOR_TEMPERATURE = 0.05
#: Competitors the score is taken over at most (the oldest are dropped first; the first,
#: the near-miss's own, is always kept).
MAX_COMPETITORS = 256
#: The energy band (kcal/mol) above a folded design's MFE whose structures all join the
#: competitors: ViennaRNA's suboptimal folding returns them for about the cost of the MFE
#: fold (~40 structures at 100 nt), so one fold cuts off many competitors instead of one.
#: 0: each fold adds its MFE structure alone.
BAND = 1.0
#: Competitors one fold adds at most (the lowest first).
BAND_COMPETITORS = 32
#: Energies closer than this (kcal/mol) are equal (ViennaRNA's are integers in dcal/mol).
_TIE = 0.005
#: Proposals between two looks at the clock.
_CLOCK_EVERY = 16


@dataclass(frozen=True)
class NegativeResult:
    """The outcome of one :meth:`NegativeDesign.run`.

    Attributes:
        sequence: The target's design when solved; otherwise the folded design whose MFE
            structure was closest to the target (the latest of equals), or the near-miss
            itself when nothing was folded.
        structure: Its MFE structure (the near-miss's competitor when nothing was folded).
        solved: Whether ``sequence`` folds into the target.
        folds: MFE folds made.
        competitors: Competitors the score was taken over at the end.
        units: Design units searched.
    """

    sequence: str
    structure: str
    solved: bool
    folds: int
    competitors: int
    units: int


def negative_sites(target: str, competitor: str) -> list[int]:
    """The sites :class:`NegativeDesign` changes (module docstring, step 1).

    Args:
        target: The target structure.
        competitor: The near-miss's MFE structure.

    Returns:
        Sorted 0-based sites: the unshared term sites and those of the target's loop terms
        that touch them.
    """
    sites = set(term_sites(target, competitor))
    ring = set(sites)
    for term in loop_terms(target).values():
        if term & sites:
            ring |= term
    return sorted(ring)


class NegativeDesign:
    """Constraint generation around one near-miss (module docstring).

    Args:
        target: The target structure.
        design: The near-miss.
        competitor: Its MFE structure (not the target).
        units: The target's design units (:func:`envs.constraints.unit_options`).
        options: The options of each unit.
        unit_of: The unit of each site (:func:`envs.constraints.unit_index`).
        rng: Draws the proposals and the acceptances.
        energy: The energy model.
        allowed: Whether a design may be folded (the caller's GC or motif rules; default:
            every design).
        band: Each fold adds every structure within this many kcal/mol of the design's
            MFE (at most :data:`BAND_COMPETITORS`, the near-miss's own band first); 0:
            its MFE structure alone.

    Raises:
        ValueError: the competitor is the target, the lengths differ, or a negative band.
    """

    def __init__(
        self,
        target: str,
        design: str,
        competitor: str,
        units: list[tuple[int, int]],
        options: list[tuple[str, ...]],
        unit_of: np.ndarray,
        rng: np.random.Generator,
        energy: EnergyModel | None = None,
        allowed: Callable[[str], bool] | None = None,
        band: float = BAND,
    ):
        check_near_miss(target, design, competitor)
        check_band(band)
        self.band = band
        self.target = target
        self.origin = design
        self.rng = rng
        self.energy = energy
        self.allowed = allowed
        self._units = units
        self._options = options
        sites = negative_sites(target, competitor)
        #: Indices (into ``units``) of the units searched: those of the sites with a choice.
        self.searched = sorted(
            {int(unit_of[s]) for s in sites if len(options[int(unit_of[s])]) > 1}
        )
        self._competitors = [competitor]
        self._fold_seconds = 0.0

    def run(self, deadline: float) -> NegativeResult:
        """Anneal and fold until the target folds or ``deadline`` (``time.monotonic()``).

        A fold is made only when its expected time (the longest so far) fits.
        """
        chars = list(self.origin)
        best = (self.origin, self._competitors[0], hamming(self._competitors[0], self.target))
        folded: set[str] = {self.origin}
        folds = 0
        if not self.searched:
            return self._result(best, False, folds)
        if self.band and time.monotonic() < deadline:  # the near-miss's own band
            self._add_competitors(self._probe(self.origin)[1])
        score = self._score(chars)
        temperature = START_TEMPERATURE
        proposals = PROPOSALS_PER_UNIT * len(self.searched)
        while time.monotonic() < deadline:
            score = self._round(chars, score, temperature, proposals, deadline)
            temperature = max(FLOOR_TEMPERATURE, temperature * COOLING)
            design = "".join(chars)
            if score >= 0 or design in folded or not self._may_fold(design, deadline):
                continue
            folded.add(design)
            began = time.monotonic()
            structure, competitors = self._probe(design)
            self._fold_seconds = max(self._fold_seconds, time.monotonic() - began)
            folds += 1
            distance = hamming(structure, self.target)
            if distance <= best[2]:
                best = (design, structure, distance)
            if distance == 0:
                return self._result(best, True, folds)
            self._add_competitors(competitors)
            score = self._score(chars)
        return self._result(best, False, folds)

    def _round(
        self, chars: list[str], score: float, temperature: float, proposals: int, deadline: float
    ) -> float:
        """``proposals`` annealing proposals on ``chars`` (in place); the score reached."""
        for proposal in range(proposals):
            if proposal % _CLOCK_EVERY == 0 and time.monotonic() >= deadline:
                break
            k = self.searched[int(self.rng.integers(len(self.searched)))]
            old = unit_value(chars, self._units[k])
            others = [o for o in self._options[k] if o != old]
            assign(chars, self._units[k], others[int(self.rng.integers(len(others)))])
            trial = self._score(chars)
            if trial <= score or self.rng.random() < _acceptance(trial - score, temperature):
                score = trial
            else:
                assign(chars, self._units[k], old)
        return score

    def _score(self, chars: list[str]) -> float:
        """``E(target)`` minus the lowest known competitor's energy (``inf``: no target)."""
        energies = structure_energies(
            "".join(chars), [self.target, *self._competitors], self.energy
        )
        if math.isinf(energies[0]):
            return math.inf
        return energies[0] - min(energies[1:])

    def _may_fold(self, design: str, deadline: float) -> bool:
        if self.allowed is not None and not self.allowed(design):
            return False
        return time.monotonic() + self._fold_seconds <= deadline

    def _probe(self, design: str) -> tuple[str, list[str]]:
        """The design's MFE structure and the competitors its fold adds (see ``band``).

        The MFE structure is :func:`envs.folding.fold`'s whenever the target is among the
        band's lowest (degenerate energies: the MFE fold decides which one is returned).
        """
        if not self.band:
            structure, _ = fold(design, self.energy)
            return structure, [structure]
        found = suboptimal_structures(design, self.band, self.energy)
        lowest = found[0][1]
        if any(s == self.target and e <= lowest + _TIE for s, e in found):
            structure, _ = fold(design, self.energy)
        else:
            structure = found[0][0]
        competitors = [s for s, _ in found if s != self.target][:BAND_COMPETITORS]
        return structure, competitors

    def _add_competitors(self, structures: list[str]) -> None:
        known = set(self._competitors)
        for structure in structures:
            if structure not in known:
                known.add(structure)
                self._competitors.append(structure)
        if len(self._competitors) > MAX_COMPETITORS:
            del self._competitors[1 : len(self._competitors) - MAX_COMPETITORS + 1]

    def _result(self, best: tuple[str, str, int], solved: bool, folds: int) -> NegativeResult:
        return NegativeResult(
            best[0], best[1], solved, folds, len(self._competitors), len(self.searched)
        )


def _acceptance(increase: float, temperature: float) -> float:
    """Metropolis acceptance of a score ``increase`` > 0 (0 for an infinite or NaN one)."""
    if not math.isfinite(increase):
        return 0.0
    return math.exp(-increase / temperature)

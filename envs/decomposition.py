"""Hierarchical starts for long targets: design the substructures first, then the whole.

On a long target one evaluation of the ensemble stage (an MFE fold and a partition
function, cubic in the length) costs tenths of a second, so in a share of a minute the
stage makes a few hundred steps from starts that are tens of sites off. A substructure
closed by a helix, designed on its own, is cheap to evaluate (a 40-nt piece folds ~500
times faster than a 320-nt target) and mostly folds the same way inside the whole design:
RNAinverse's adaptive walk and NUPACK's hierarchical decomposition rest on that.

:class:`Decomposition` takes a start design (the stage's best so far) and visits the
target's *subproblems*, the substructures ``i..j`` closed by the outermost pair of a helix
whose span is at least ``min_length`` sites and at most ``max_fraction`` of the target,
smallest first (a subproblem's own subproblems come before it). Each is searched as a
target of its own (:class:`envs.ensemble_search.EnsembleSearch`, started from the current
design's slice, which already carries its solved children) for a time share proportional
to its length, and its best design is written back. The assembled design is then offered
to the stage's pool, which finishes it on the whole target. Time is charged across calls,
so the stage can interleave the decomposition with the policy's rollouts.

A subproblem whose closing pair cannot form when it is folded alone is skipped
(:func:`closes_alone`): alone, its closing helix lies in the exterior loop, where a short
helix may lose to its own opening for every sequence although the loop around it in the
whole target holds it. Such a search could never succeed, and the design it would write
back is tuned to the wrong context; its parent subproblem covers it, and its time share
is not spent.

Sub-searches keep the IUPAC codes of their slice and the forbidden motifs (motifs are
local); the GC range applies to whole designs only, so the assembled design meets it only
when the pool accepts it (:meth:`EnsembleSearch.offer` checks every constraint).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from envs.constraints import DesignConstraints
from envs.designability import outer_pair_obstacle
from envs.dot_bracket import pair_table
from envs.folding import EnergyModel

if TYPE_CHECKING:
    from envs.ensemble_search import EnsembleSearch

#: Fewest sites a subproblem spans (shorter pieces fold in well under a millisecond and
#: are left to the search on the whole target).
MIN_LENGTH = 30

#: Largest share of the target a subproblem may span (a piece almost as long as the
#: target costs almost as much to evaluate and gains nothing).
MAX_FRACTION = 0.8


def subproblems(
    target: str, min_length: int = MIN_LENGTH, max_fraction: float = MAX_FRACTION
) -> list[tuple[int, int]]:
    """The substructures searched on their own, smallest first (children before parents).

    Args:
        target: The target structure.
        min_length: Fewest sites a subproblem spans.
        max_fraction: Largest share of the target's length a subproblem spans.

    Returns:
        ``(i, j)`` pairs, 0-based and inclusive: ``i`` pairs with ``j`` and is the outermost
        pair of its helix (``i - 1`` does not pair with ``j + 1``).
    """
    partners = pair_table(target)
    n = len(target)
    found = []
    for i, j in enumerate(int(p) for p in partners):
        if j <= i:
            continue
        if i > 0 and j + 1 < n and partners[i - 1] == j + 1:
            continue  # inside a helix: its outermost pair stands for it
        if min_length <= j - i + 1 <= max_fraction * n:
            found.append((i, j))
    return sorted(found, key=lambda node: (node[1] - node[0], node[0]))


@lru_cache(maxsize=4096)
def closes_alone(piece: str, energy: EnergyModel | None = None, code: str | None = None) -> bool:
    """Whether a piece's closing pair may form when the piece is folded on its own.

    False when :func:`envs.designability.outer_pair_obstacle` proves that a structure
    opening the first and last sites' pair is lower for every sequence (within the IUPAC
    ``code``): no search on the piece alone can then succeed. A few competitor tests,
    5 ms on average and 0.3-0.45 s at most over the 1,310 subproblems of the benchmark
    sets' and a generated set's targets of at least 150 nt (session 67); cached, as a
    search asks about the same pieces again.

    Args:
        piece: The piece's structure, its first site paired with its last.
        energy: The energy model (None: ViennaRNA's default).
        code: IUPAC codes of the piece's sites (None: any sequence).
    """
    return outer_pair_obstacle(piece, energy, code) is None


class Decomposition:
    """Design a target's subproblems on their own, smallest first (module docstring).

    Args:
        target: The target structure.
        seconds: Time for all subproblems together, shared by length.
        rng: Source of every draw.
        constraints: The design's constraints (their slices apply to the subproblems).
        gu_pairs: Allow GU and UG on target pairs.
        energy: The energy model.
        min_length: Fewest sites a subproblem spans.
        nodes: The subproblems to search, in order (pairs ``(i, j)`` closing a substructure;
            default: every one of :func:`subproblems`). The ensemble stage's focused repair
            passes the one substructure holding a design's mismatched sites.
        search_options: Keyword arguments of every sub-search's :class:`EnsembleSearch`
            beyond its target, draws, constraints, pairs and energy model (the stage's
            own settings: ``objective``, ``sites``, ``special_loops``, ``rivals``).

    Raises:
        ValueError: a negative time or a minimum length below 2.
    """

    def __init__(
        self,
        target: str,
        seconds: float,
        rng: np.random.Generator,
        constraints: DesignConstraints | None = None,
        gu_pairs: bool = False,
        energy: EnergyModel | None = None,
        min_length: int = MIN_LENGTH,
        nodes: list[tuple[int, int]] | None = None,
        search_options: Mapping[str, Any] | None = None,
    ):
        if not seconds >= 0 or min_length < 2:
            raise ValueError(
                f"seconds must be >= 0 and min_length >= 2, got {seconds} and {min_length}"
            )
        self.target = target
        self.rng = rng
        self.rules = constraints or DesignConstraints()
        self.gu_pairs = gu_pairs
        self.energy = energy
        self.search_options = dict(search_options or {})
        if nodes is None:
            nodes = subproblems(target, min_length) if seconds > 0 else []
        partners = pair_table(target)
        for i, j in nodes:
            if not 0 <= i < j < len(target) or partners[i] != j:
                raise ValueError(f"subproblem ({i}, {j}) is not a pair of the target")
        self.nodes = list(nodes)
        total = sum(j - i + 1 for i, j in self.nodes)
        #: Seconds each subproblem may spend (its length's share of ``seconds``).
        self.budgets = [seconds * (j - i + 1) / total for i, j in self.nodes]
        #: Subproblems whose search found a design folding into them.
        self.solved = 0
        #: Subproblems skipped because their closing pair cannot form alone.
        self.skipped = 0
        #: Evaluations spent by all sub-searches.
        self.evaluations = 0
        self.sequence: list[str] | None = None
        self._node = 0
        self._search: EnsembleSearch | None = None
        self._spent = 0.0
        self._step_hint = 0.0

    @property
    def done(self) -> bool:
        """Whether every subproblem had its turn (trivially so when there is none)."""
        return self._node >= len(self.nodes)

    def begin(self, sequence: str, step_seconds: float = 0.0) -> None:
        """Set the design the subproblems start from (the stage's best so far).

        Args:
            sequence: The start design.
            step_seconds: What an evaluation of the whole target takes (an upper bound for
                a subproblem's first evaluation, which must fit before a deadline).
        """
        if len(sequence) != len(self.target):
            raise ValueError(f"the start has {len(sequence)} nt, the target {len(self.target)}")
        self.sequence = list(sequence)
        self._step_hint = step_seconds

    def run(self, deadline: float) -> int:
        """Search subproblems until all had their time or ``deadline``; resumable.

        Like the stage's own steps, a sub-search's evaluation starts only when its expected
        duration fits before ``deadline`` (the first one of a subproblem is expected to
        take as long as a step on the whole target, :meth:`begin`'s ``step_seconds``).

        Returns:
            The evaluations this call spent.
        """
        if self.sequence is None:
            raise RuntimeError("call begin() with a start design first")
        before = self.evaluations
        while not self.done and time.monotonic() < deadline:
            i, j = self.nodes[self._node]
            if self._search is None and not closes_alone(
                self.target[i : j + 1], self.energy, self.rules.codes(i, j)
            ):
                self.skipped += 1
                self._node += 1
                continue
            search = self._search or self._open(i, j)
            began = time.monotonic()
            node_end = began + self.budgets[self._node] - self._spent
            end = min(deadline, node_end)
            counted = search.evaluations
            if search.pool:
                steps = search.run(end)
            else:
                steps = int(search.offer("".join(self.sequence[i : j + 1]), end) is not None)
            self._spent += time.monotonic() - began
            self.evaluations += search.evaluations - counted
            stuck = bool(search.pool) and search.exhausted
            if steps == 0 and not stuck and node_end > deadline and not search.solved:
                break  # the caller's deadline, not the subproblem's time: go on next call
            if steps == 0 or search.solved or self._spent >= self.budgets[self._node]:
                self._finish_node(i, j)
        return self.evaluations - before

    def _open(self, i: int, j: int) -> EnsembleSearch:
        from envs.ensemble_search import EnsembleSearch

        search = EnsembleSearch(
            self.target[i : j + 1],
            self.rng,
            DesignConstraints(self.rules.codes(i, j), None, self.rules.forbid),
            self.gu_pairs,
            self.energy,
            step_seconds=self._step_hint,
            **self.search_options,
        )
        self._search = search
        self._spent = 0.0
        return search

    def _finish_node(self, i: int, j: int) -> None:
        search = self._search
        assert search is not None and self.sequence is not None
        if search.best is not None:
            self.sequence[i : j + 1] = list(search.best.sequence)
            self.solved += search.solved
        self._search = None
        self._node += 1

"""Grafts: a design takes the slice of a substructure that folded better in another design.

The ensemble stage evaluates thousands of designs of one target (the policy's and its own
mutants), and each evaluation tells how well every substructure folded in that design:
the positional defects summed over the substructure's sites. A design that is wrong in
one region is often right in a region where the best design is wrong. A
:class:`PieceArchive` keeps, for every substructure closed by a helix's outermost pair
(:func:`envs.decomposition.subproblems`), the slice of the design in which it folded best
so far (substructures of the same dot-bracket, a target's repeated modules, share one
entry); a graft writes that slice into a pool member whose defects there are larger by
at least :data:`GRAFT_MARGIN` sites. The slice is a whole substructure, so its pairs stay
complementary, and it was judged in the context of a whole design (unlike a piece
designed alone, which may pair with the rest of the design once written back).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import numpy as np

from envs.constraints import IUPAC
from envs.decomposition import subproblems

#: Fewest sites of a substructure the archive keeps (a hairpin of 3 closed by two pairs).
GRAFT_MIN_LENGTH = 7

#: Largest share of the target a substructure the archive keeps spans.
GRAFT_MAX_FRACTION = 0.9

#: Summed positional defect (sites) a slice must save over the receiving design's.
GRAFT_MARGIN = 0.5

#: Substructures tried per graft step before giving up (each graft made was seen before).
_GRAFT_TRIES = 8


class PieceArchive:
    """The best slice seen of each substructure (shape) of a target (module docstring).

    Args:
        target: The target structure.
        min_length: Fewest sites of a kept substructure.
        max_fraction: Largest share of the target a kept substructure spans.
    """

    def __init__(
        self,
        target: str,
        min_length: int = GRAFT_MIN_LENGTH,
        max_fraction: float = GRAFT_MAX_FRACTION,
    ):
        self.pieces = subproblems(target, min_length, max_fraction)
        self._first = np.array([i for i, _ in self.pieces], dtype=np.int64)
        self._end = np.array([j + 1 for _, j in self.pieces], dtype=np.int64)
        shapes = [target[i : j + 1] for i, j in self.pieces]
        #: The shape (index into :attr:`defects`) of each substructure: repeated modules
        #: of the target share one.
        self.shape_of = np.array([shapes.index(shape) for shape in shapes], dtype=np.int64)
        #: Summed positional defect of each shape's best slice (inf: none yet).
        self.defects = np.full(len(self.pieces), np.inf)
        #: The best slice of each shape (None: none yet).
        self.slices: list[str | None] = [None] * len(self.pieces)

    def piece_defects(self, defects: np.ndarray) -> np.ndarray:
        """Each substructure's summed positional defect in a design with ``defects``."""
        totals = np.concatenate(([0.0], np.cumsum(defects, dtype=np.float64)))
        return totals[self._end] - totals[self._first]

    def record(self, sequence: str, defects: np.ndarray) -> int:
        """Keep the slices of ``sequence`` whose substructures fold better than any so far.

        Returns:
            How many slices were kept.
        """
        kept = 0
        for k, total in enumerate(self.piece_defects(defects)):
            shape = self.shape_of[k]
            if total < self.defects[shape]:
                self.defects[shape] = total
                self.slices[shape] = sequence[self._first[k] : self._end[k]]
                kept += 1
        return kept

    def copy(self) -> PieceArchive:
        """An independent copy (an island's)."""
        twin = copy.copy(self)
        twin.defects = self.defects.copy()
        twin.slices = list(self.slices)
        return twin

    def merge(self, others: Iterable[PieceArchive]) -> None:
        """Keep, per substructure, the best slice of this archive and ``others``."""
        for other in others:
            for k in np.flatnonzero(other.defects < self.defects):
                self.defects[k] = other.defects[k]
                self.slices[k] = other.slices[k]

    def graft(
        self,
        sequence: str,
        defects: np.ndarray,
        rng: np.random.Generator,
        seen: set[str],
        codes: str | None = None,
    ) -> str | None:
        """``sequence`` with one substructure's slice replaced by the archive's best.

        A substructure qualifies when the best slice of its shape saves at least
        :data:`GRAFT_MARGIN` sites of summed defect over ``sequence``'s (``defects``),
        differs from it, and keeps the IUPAC ``codes`` of its sites (a repeated module's
        slice comes from other sites); one is drawn with probability proportional to the
        saving.

        Returns:
            A design not in ``seen``, or None (no substructure qualifies, or every graft
            tried was seen before).
        """
        saving = self.piece_defects(defects) - self.defects[self.shape_of]
        ready = [
            k
            for k in np.flatnonzero(saving >= GRAFT_MARGIN)
            if self.slices[self.shape_of[k]] != sequence[self._first[k] : self._end[k]]
            and self._fits(k, codes)
        ]
        for _ in range(min(_GRAFT_TRIES, len(ready))):
            weights = saving[ready] / saving[ready].sum()
            k = ready.pop(int(rng.choice(len(weights), p=weights)))
            slice_ = self.slices[self.shape_of[k]]
            assert slice_ is not None
            grafted = sequence[: self._first[k]] + slice_ + sequence[self._end[k] :]
            if grafted not in seen:
                return grafted
        return None

    def _fits(self, k: int, codes: str | None) -> bool:
        """Whether the best slice of substructure ``k``'s shape keeps ``codes`` there."""
        if codes is None:
            return True
        slice_ = self.slices[self.shape_of[k]]
        assert slice_ is not None
        first = int(self._first[k])
        return all(letter in IUPAC[code] for letter, code in zip(slice_, codes[first:]))

"""Session 42's probe: sub-searches of pieces with a clamp (stage alone).

``python docs/results/i14ag/clamp_probe.py C -- <benchmarks.ensemble_stage arguments>``
runs the ensemble stage alone (:mod:`benchmarks.ensemble_stage`) with every piece search
of :class:`envs.decomposition.Decomposition` (hierarchical starts and focused repairs)
made on the piece extended by ``C`` G-C/C-G pairs stacked outside its closing pair
(NUPACK's hierarchical decomposition augments its children in the same spirit), so that a
piece whose outer helix is too weak alone is judged on its interior. ``C`` 0 is today's
stage. The replacement is made before the harness's worker processes fork.
"""

from __future__ import annotations

import sys

from benchmarks import ensemble_stage
from envs import decomposition as dec
from envs import ensemble_search as stage
from envs.constraints import DesignConstraints

CLAMP = 0
_COMPLEMENT = {"G": "C", "C": "G"}


def _sides() -> tuple[str, str]:
    left = ("GC" * CLAMP)[:CLAMP]
    right = "".join(_COMPLEMENT[base] for base in reversed(left))
    return left, right


class _ClampedSearch(stage.EnsembleSearch):
    """A piece's search: ``Decomposition.run`` offers it the bare slice, which gets the clamp."""

    piece_length = 0

    def offer(self, sequence, deadline=None):
        """Offer ``sequence``, clamped first when it is the bare slice of the piece."""
        if len(sequence) == self.piece_length:
            left, right = _sides()
            sequence = left + sequence + right
        return super().offer(sequence, deadline)


def _open(self, i, j):
    left, right = _sides()
    piece = self.target[i : j + 1]
    code = self.rules.sequence[i : j + 1] if self.rules.sequence else "N" * len(piece)
    search = _ClampedSearch(
        "(" * CLAMP + piece + ")" * CLAMP,
        self.rng,
        DesignConstraints(left + code + right, None, self.rules.forbid),
        self.gu_pairs,
        self.energy,
        step_seconds=self._step_hint,
        **self.search_options,
    )
    search.piece_length = len(piece)
    self._search = search
    self._spent = 0.0
    return search


def _finish_node(self, i, j):
    search = self._search
    if search.best is not None:
        best = search.best.sequence
        self.sequence[i : j + 1] = list(best[CLAMP : len(best) - CLAMP])
        self.solved += search.solved
    self._search = None
    self._node += 1


def _wrong_alone(self, first, last):
    from envs.folding import mfe_structure

    left, right = _sides()
    for i, j in self._pieces:
        if i <= first and last <= j:
            folded = mfe_structure(left + self.best.sequence[i : j + 1] + right, self.energy)
            if folded != "(" * CLAMP + self.target[i : j + 1] + ")" * CLAMP:
                return i, j
    return None


def main(argv: list[str]) -> int:
    """Run the harness with ``argv[0]`` clamp pairs (``--alone``: repairs pick pieces as today)."""
    global CLAMP
    split = argv.index("--")
    CLAMP = int(argv[0])
    if CLAMP:
        dec.Decomposition._open = _open
        dec.Decomposition._finish_node = _finish_node
        if "--alone" not in argv[1:split]:
            stage.EnsembleSearch._wrong_alone = _wrong_alone
    return ensemble_stage.main(argv[split + 1 :])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

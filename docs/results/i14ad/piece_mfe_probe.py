"""Session 39 probe: focused repairs' pieces evaluated by their MFE fold alone from L nt.

The stage harness (``benchmarks.ensemble_stage``) with one change: every focused
repair's sub-searches get ``mfe_length`` L (the whole target keeps the harness's
``--mfe-length``; hierarchical starts keep it too). The first argument is L, the rest
are the harness's. Usage (from the project's root)::

    F="--repair 1 --rivals 0.5 --neighbourhood 16384 --decompose 0.3 --boost --mfe-length 200"
    P=docs/results/i14ad/piece_mfe_probe.py
    python $P 40 docs/results/i14z/dev/long20.txt --seconds 20 --seed 11 $F
"""

from __future__ import annotations

import sys

from benchmarks import ensemble_stage
from envs import ensemble_search
from envs.decomposition import Decomposition

PIECE_MFE = int(sys.argv.pop(1)) if __name__ == "__main__" else 0
_real = ensemble_search.EnsembleSearch._pieces_work


def _pieces_work(
    self: ensemble_search.EnsembleSearch,
    seconds: float,
    nodes: list[tuple[int, int]] | None = None,
) -> Decomposition:
    work = _real(self, seconds, nodes)
    if nodes is not None:  # a repair (hierarchical starts pass no nodes)
        work.search_options["mfe_length"] = PIECE_MFE
    return work


if __name__ == "__main__":
    ensemble_search.EnsembleSearch._pieces_work = _pieces_work  # type: ignore[method-assign]
    sys.exit(ensemble_stage.main())

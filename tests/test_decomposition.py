"""Hierarchical starts (envs.decomposition) and their place in the ensemble stage."""

from __future__ import annotations

import time

import numpy as np
import pytest

from envs import decomposition as decomposition_module
from envs.constraints import DesignConstraints
from envs.decomposition import Decomposition, subproblems
from envs.dot_bracket import pair_table
from envs.ensemble_search import EnsembleSearch
from envs.folding import mfe_structure

#: Two 34-nt pieces inside a multiloop closed by a 3-pair helix (77 nt), and a hairpin.
HAIRPIN = "((((((((....))))..((((....))))))))"  # 34 nt
TARGET = "...(((" + HAIRPIN + "..." + HAIRPIN + ")))...((((....))))..."


#: SAMFEO's targeted start of TARGET with A-U for every G-C: it folds into none of the
#: pieces (a targeted start itself already folds into TARGET, leaving nothing to design).
START = (
    EnsembleSearch(TARGET, np.random.default_rng(0))
    .targeted_start()
    .translate(str.maketrans("GC", "AU"))
)


def test_subproblems_are_outermost_pairs_smallest_first():
    nodes = subproblems(TARGET)
    partners = pair_table(TARGET)
    assert nodes == [(6, 39), (43, 76), (3, 79)]  # children come before their parent
    for i, j in nodes:
        assert partners[i] == j and partners[i - 1] != j + 1  # a helix's outermost pair
    assert subproblems(TARGET, max_fraction=0.5) == [(6, 39), (43, 76)]
    assert subproblems(TARGET, min_length=40) == [(3, 79)]
    assert subproblems("." * 50) == []


def test_decomposition_designs_the_pieces_and_keeps_the_rest():
    rng = np.random.default_rng(0)
    work = Decomposition(TARGET, 20.0, rng, gu_pairs=True)
    start = START
    work.begin(start, 0.01)
    spent = work.run(time.monotonic() + 60)
    assert work.done and spent == work.evaluations >= 2
    design = "".join(work.sequence)
    assert design[:3] == start[:3] and design[80:] == start[80:]  # outside every piece
    for i, j in work.nodes:  # each piece folds alone into its target (easy hairpins)
        assert mfe_structure(START[i : j + 1]) != TARGET[i : j + 1]  # it did not at the start
        assert mfe_structure(design[i : j + 1]) == TARGET[i : j + 1]
    assert work.solved == 3


def test_decomposition_keeps_the_codes_and_motifs_of_each_piece():
    code = "N" * 14 + "C" + "N" * (len(TARGET) - 15)  # a loop site of the first piece
    rules = DesignConstraints(sequence=code, forbid=("GGGG", "CCCC"))
    stage = EnsembleSearch(TARGET, np.random.default_rng(1), rules, gu_pairs=True, starts=8)
    stage.run(time.monotonic() + 30, max_steps=0)
    assert stage.best is not None
    work = Decomposition(TARGET, 5.0, np.random.default_rng(1), rules, gu_pairs=True)
    work.begin(stage.best.sequence)
    work.run(time.monotonic() + 30)
    design = "".join(work.sequence)
    assert design[14] == "C" and work.evaluations > len(work.nodes)
    for i, j in work.nodes:
        assert "GGGG" not in design[i : j + 1] and "CCCC" not in design[i : j + 1]


def test_decomposition_is_resumable_and_never_passes_a_deadline(slow_evaluations):
    """On a fake clock where every evaluation takes 0.05 s, slices of 0.12 s finish it."""
    clock = slow_evaluations(0.05, start=500.0)
    assert decomposition_module.time.monotonic() == 500.0  # the same clock here
    work = Decomposition(TARGET, 1.0, np.random.default_rng(2), gu_pairs=True)
    work.begin(START, 0.05)
    calls = 0
    while not work.done:
        deadline = clock["now"] + 0.12
        work.run(deadline)
        assert clock["now"] <= deadline + 1e-9
        calls += 1
        assert calls < 100
    assert calls >= 2 and work.evaluations >= 2


def test_the_stage_offers_the_assembled_design_and_never_gets_worse():
    search = EnsembleSearch(TARGET, np.random.default_rng(3), gu_pairs=True, decompose_seconds=8)
    first = search.offer(START)
    work = search.decomposition
    assert work is not None and first is not None and first.distance > 0
    search.run(time.monotonic() + 30, max_steps=0)  # the decomposition, no search step
    assembled = "".join(work.sequence)
    assert work.done and search.decomposition is None and work.solved == 3
    assert assembled != START and assembled in search.seen  # offered to the pool
    assert search.evaluations == 1 + work.evaluations + 1  # the start, the pieces, the whole
    assert search.best is not None and search.best.rank <= first.rank
    assert search.fork(np.random.default_rng(0)).decomposition is None
    island_free = EnsembleSearch(TARGET, np.random.default_rng(3), decompose_seconds=0)
    assert island_free.decomposition is None


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="seconds"):
        Decomposition(TARGET, -1.0, np.random.default_rng(0))
    work = Decomposition(TARGET, 1.0, np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="begin"):
        work.run(time.monotonic() + 1)
    with pytest.raises(ValueError, match="nt"):
        work.begin("ACGU")


def test_config_carries_the_decomposition_share():
    from meta.config import LEARNA

    assert LEARNA.updated({"ensemble_decompose": 0.3}).env.ensemble_decompose == 0.3
    for bad in (1.0, -0.1, True):
        with pytest.raises(ValueError, match="ensemble_decompose"):
            LEARNA.updated({"ensemble_decompose": bad})


def test_the_design_loop_gives_the_decomposition_its_share_of_the_stage(stage_spy):
    from envs.dot_bracket import Target
    from meta import design as design_module
    from meta.config import LEARNA

    short = Target("t", "((((((....))))))...((((((....))))))")  # solved at once: the wiring
    assert LEARNA.env.ensemble_decompose == 0.3
    design_module.design(short, method="meta-learna", time_limit=20, ensemble_share=0.5)
    assert stage_spy[-1][0]["decompose_seconds"] == pytest.approx(0.3 * 0.5 * 20)
    design_module.design(
        short, method="meta-learna", time_limit=float("inf"), max_episodes=50, ensemble_share=0.5
    )
    assert stage_spy[-1][0]["decompose_seconds"] == 0.0  # no time limit to share


def test_the_pieces_are_searched_with_the_stage_settings(monkeypatch):
    from envs import ensemble_search

    opened = []
    real = ensemble_search.EnsembleSearch

    def spy(*args, **kwargs):
        search = real(*args, **kwargs)
        opened.append(search)
        return search

    stage = EnsembleSearch(
        TARGET,
        np.random.default_rng(2),
        objective="probability",
        sites="softmax",
        decompose_seconds=2.0,
    )
    work = stage.decomposition
    assert (work.objective, work.sites) == ("probability", "softmax")
    monkeypatch.setattr(ensemble_search, "EnsembleSearch", spy)
    work.begin(START)
    work.run(time.monotonic() + 30)
    assert len(opened) == len(work.nodes) == 3
    assert all((s.objective, s.sites) == ("probability", "softmax") for s in opened)

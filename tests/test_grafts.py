"""Grafts: the ensemble stage writes a substructure's best slice seen into a pool member."""

from __future__ import annotations

import time

import numpy as np
import pytest

from envs.ensemble_search import EnsembleSearch
from envs.folding import mfe_structure, positional_defects
from envs.grafts import GRAFT_MARGIN, PieceArchive
from envs.rna_design import RnaDesignConfig

#: Two hairpins of different shapes in the exterior loop: substructures 0-11 and 14-26.
TARGET = "((((....))))..((((.....))))"
#: Each hairpin's slice of a design that folds it (found with RNA.fold, kept in the test).
GOOD = ("GGACGAAAGUCC", "CUGAGAAAAUCAG")
#: Slices that fold into nothing (no complementary stretch).
BAD = ("A" * 12, "A" * 13)


def _design(first: str, second: str) -> str:
    return first + "AA" + second


def _defects(sequence: str) -> np.ndarray:
    return positional_defects(sequence, TARGET)[1]


def test_the_good_slices_fold_into_the_target_together_and_the_bad_one_does_not():
    assert mfe_structure(_design(*GOOD)) == TARGET
    assert mfe_structure(_design(GOOD[0], BAD[1])) != TARGET
    assert mfe_structure(_design(BAD[0], GOOD[1])) != TARGET


def test_the_archive_keeps_each_substructure_and_its_best_slice():
    archive = PieceArchive(TARGET)
    assert archive.pieces == [(0, 11), (14, 26)]
    left, right = _design(GOOD[0], BAD[1]), _design(BAD[0], GOOD[1])
    left_defects = _defects(left)
    sums = archive.piece_defects(left_defects)
    assert sums == pytest.approx([left_defects[:12].sum(), left_defects[14:].sum()])
    assert archive.record(left, left_defects) == 2  # the first design sets both
    assert archive.slices == [GOOD[0], BAD[1]]
    assert archive.record(right, _defects(right)) == 1  # only its right hairpin is better
    assert archive.slices == list(GOOD)
    assert archive.record(left, left_defects) == 0  # ties keep the slice kept first


def test_a_graft_writes_the_better_slice_where_the_design_folds_worse():
    archive = PieceArchive(TARGET)
    left, right = _design(GOOD[0], BAD[1]), _design(BAD[0], GOOD[1])
    for design in (left, right):
        archive.record(design, _defects(design))
    rng = np.random.default_rng(0)
    grafted = archive.graft(left, _defects(left), rng, set())
    assert grafted == _design(*GOOD)  # the left design's good hairpin is kept
    assert archive.graft(right, _defects(right), rng, set()) == _design(*GOOD)
    # Seen before: nothing else qualifies.
    assert archive.graft(left, _defects(left), rng, {grafted}) is None
    # A design as good everywhere as the archive takes nothing.
    best = _design(*GOOD)
    assert archive.graft(best, _defects(best), rng, set()) is None


def test_repeated_modules_share_their_best_slice():
    target = "((((....)))).." + "((((....))))"  # two hairpins of one shape
    archive = PieceArchive(target)
    assert archive.pieces == [(0, 11), (14, 25)] and list(archive.shape_of) == [0, 0]
    design = GOOD[0] + "AA" + BAD[0]
    defects = positional_defects(design, target)[1]
    assert defects[14:].sum() > defects[:12].sum() + GRAFT_MARGIN
    archive.record(design, defects)
    assert archive.slices[0] == GOOD[0]  # the left copy folded better
    # The right copy takes the left copy's slice.
    grafted = archive.graft(design, defects, np.random.default_rng(0), set())
    assert grafted == GOOD[0] + "AA" + GOOD[0]
    # IUPAC codes of the right copy's sites that the left copy's slice breaks: no graft.
    codes = "N" * 14 + "A" + "N" * 11
    assert archive.graft(design, defects, np.random.default_rng(0), set(), codes) is None
    assert archive.graft(design, defects, np.random.default_rng(0), set(), "N" * 26) == grafted


def test_a_graft_needs_the_margin():
    archive = PieceArchive(TARGET)
    design = _design(*GOOD)
    defects = _defects(design)
    archive.record(design, defects)
    other = _design(GOOD[0], "CUGAGAAAAUCAA")  # one letter of the right hairpin changed
    worse = defects.copy()
    worse[20] += GRAFT_MARGIN * 0.9  # saving just below the margin
    assert archive.graft(other, worse, np.random.default_rng(0), set()) is None
    worse[20] += GRAFT_MARGIN * 0.2  # now above it
    assert archive.graft(other, worse, np.random.default_rng(0), set()) == design


def test_archives_merge_by_the_better_slice_and_copies_are_independent():
    first, second = PieceArchive(TARGET), PieceArchive(TARGET)
    left, right = _design(GOOD[0], BAD[1]), _design(BAD[0], GOOD[1])
    first.record(left, _defects(left))
    twin = first.copy()
    second.record(right, _defects(right))
    first.merge([second])
    assert first.slices == list(GOOD)
    assert twin.slices == [GOOD[0], BAD[1]]  # the copy did not change with the original


def test_the_stage_solves_by_grafting_two_designs_each_right_in_one_hairpin():
    search = EnsembleSearch(TARGET, np.random.default_rng(0), grafts=1.0)
    for design in (_design(GOOD[0], BAD[1]), _design(BAD[0], GOOD[1])):
        assert search.offer(design) is not None
    assert not search.solved
    spent = search.run(time.monotonic() + 30, max_steps=1)  # one step: a graft
    assert spent == 1 and search.grafts == 1
    assert search.solved and search.best is not None
    assert search.best.sequence == _design(*GOOD)


def test_without_grafts_the_stage_keeps_no_archive_and_takes_no_graft_step():
    search = EnsembleSearch(TARGET, np.random.default_rng(0))
    for design in (_design(GOOD[0], BAD[1]), _design(BAD[0], GOOD[1])):
        search.offer(design)
    search.run(time.monotonic() + 30, max_steps=3)
    assert search.archive is None and search.grafts == 0


def test_islands_carry_and_merge_the_archive():
    search = EnsembleSearch(TARGET, np.random.default_rng(0), grafts=0.5)
    search.offer(_design(GOOD[0], BAD[1]))
    island = search.fork(np.random.default_rng(1))
    assert island.archive is not search.archive
    island.offer(_design(BAD[0], GOOD[1]))
    assert search.archive is not None and search.archive.slices[1] == BAD[1]
    search.merge([island])
    assert search.archive.slices == list(GOOD)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_graft_shares_out_of_range_are_refused(bad):
    with pytest.raises(ValueError, match="grafts"):
        EnsembleSearch(TARGET, np.random.default_rng(0), grafts=bad)
    with pytest.raises(ValueError, match="ensemble_grafts"):
        RnaDesignConfig(ensemble_grafts=bad)


def test_the_policy_designs_noted_feed_the_archive_only_with_mfe_only_evaluations():
    left, right = _design(GOOD[0], BAD[1]), _design(BAD[0], GOOD[1])
    search = EnsembleSearch(TARGET, np.random.default_rng(0), grafts=1.0, mfe_length=20)
    assert search.note(left, mfe_structure(left))
    assert search.note(right, mfe_structure(right))
    assert not search.note(right, mfe_structure(right))  # nothing better in it
    assert search.archive is not None and search.archive.slices == list(GOOD)
    assert search.evaluations == 0  # noted, not evaluated
    search.offer(left)
    search.run(time.monotonic() + 30, max_steps=1)
    assert search.solved and search.grafts == 1
    full = EnsembleSearch(TARGET, np.random.default_rng(0), grafts=0.5)  # full evaluations
    assert not full.note(left, mfe_structure(left))
    assert full.archive is not None and full.archive.slices == [None, None]


def test_the_config_carries_the_grafts_and_the_loop_notes_the_policy_designs(
    stage_spy, monkeypatch
):
    from envs.dot_bracket import Target
    from envs.ensemble_search import EnsembleSearch as Search
    from meta import design as design_module

    noted: list[str] = []
    real_note = Search.note

    def note(self, sequence, structure):
        noted.append(sequence)
        return real_note(self, sequence, structure)

    monkeypatch.setattr(Search, "note", note)
    base = design_module.load_checkpoint(None).config
    chosen = base.updated({"ensemble_grafts": 0.3, "ensemble_mfe_length": 20})
    result = design_module.design(
        Target("t", TARGET), method="meta-learna", time_limit=20, ensemble_share=0.5, config=chosen
    )
    kwargs, search = stage_spy[-1]
    assert kwargs["grafts"] == 0.3 and search.archive is not None and search.mfe_only
    assert 0 < len(noted) <= result.episodes  # every valid episode of the policy
    off = base.updated({"ensemble_grafts": 0.0})
    design_module.design(
        Target("t", TARGET), method="meta-learna", time_limit=20, ensemble_share=0.5, config=off
    )
    assert stage_spy[-1][1].archive is None


def test_the_stage_benchmark_takes_the_grafts(tmp_path, capsys, harness_spy):
    import json

    from benchmarks import ensemble_stage

    targets = tmp_path / "t.txt"
    targets.write_text(TARGET + "\n")
    arguments = [str(targets), "--seconds", "1", "--workers", "1", "--grafts", "0.4"]
    assert ensemble_stage.main(arguments) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["settings"]["grafts"] == 0.4 and "grafts" in summary["per_target"]["1"]
    with pytest.raises(SystemExit) as stopped:
        ensemble_stage.main([str(targets), "--grafts", "1.5"])
    assert stopped.value.code == 2 and "--grafts" in capsys.readouterr().err
    ensemble_stage.run_target(TARGET, ensemble_stage.StageSettings(1.0, grafts=0.4), 0)
    assert harness_spy[-1].graft_share == 0.4 and harness_spy[-1].archive is not None


def test_grafts_are_on_by_default_in_the_design_loop_and_off_in_the_published_configs():
    from meta import design as design_module
    from meta.config import LEARNA

    assert RnaDesignConfig().ensemble_grafts == 0.2  # session 40
    assert LEARNA.env.ensemble_grafts == 0.2  # inert there: its ensemble_share is 0
    assert LEARNA.env.ensemble_share == 0
    base = design_module.load_checkpoint(None).config
    assert base.env.ensemble_grafts == 0.2  # the shipped model's file leaves it out

"""Negative-design bursts: annealing around a near-miss's competitors, cut one fold at a time."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
from near_misses import near_miss

from envs import ensemble_search, negative_design
from envs.constraints import DesignConstraints, unit_index, unit_options
from envs.designability import loop_terms, term_sites
from envs.ensemble_search import EnsembleSearch
from envs.folding import hamming, mfe_structure, suboptimal_structures
from envs.negative_design import NegativeDesign, NegativeResult, negative_sites

#: A target with a lonely pair (positions 23 and 28) and a bulge.
LONELY = "((((((((....))))..((((.(....).))))))))"
#: A lonely pair closing a 5-nt hairpin inside a 1x1 loop.
INNER = "((((((.(.....).))))))"
#: Proved undesignable (tests/test_designability.py): its lonely pair 4-49 never forms.
LONELY_JUNCTION = "....(.......((((((((.....))))))))...((......))...)."


def _burst(target: str, design: str, competitor: str, seed: int = 0, **kwargs) -> NegativeDesign:
    units, options = unit_options(target, kwargs.pop("constraint", None), True)
    return NegativeDesign(
        target,
        design,
        competitor,
        units,
        options,
        unit_index(units, len(target)),
        np.random.default_rng(seed),
        **kwargs,
    )


def test_the_sites_are_the_difference_and_the_target_loops_around_it():
    competitor = "((((((.........))))))"
    sites = negative_sites(INNER, competitor)
    assert set(term_sites(INNER, competitor)) <= set(sites)
    touching = [t for t in loop_terms(INNER).values() if t & set(term_sites(INNER, competitor))]
    assert set(sites) == set(term_sites(INNER, competitor)).union(*touching)
    # The stacks of the outer helix beyond its innermost pair are not touched.
    assert 0 not in sites and 20 not in sites


def test_a_burst_solves_lonely_pair_near_misses_and_says_so():
    solved = 0
    for seed in range(4):
        design, competitor = near_miss(LONELY, seed)
        burst = _burst(LONELY, design, competitor, seed)
        result = burst.run(time.monotonic() + 5.0)
        assert mfe_structure(result.sequence) == result.structure
        if result.solved:
            assert result.structure == LONELY and result.folds >= 1
            solved += 1
    assert solved >= 3


def test_a_burst_changes_only_the_units_it_searches():
    design, competitor = near_miss(LONELY, 1)
    burst = _burst(LONELY, design, competitor, 1)
    result = burst.run(time.monotonic() + 1.0)
    units, _ = unit_options(LONELY, None, True)
    allowed = {s for k in burst.searched for s in units[k] if s >= 0}
    changed = {i for i, (a, b) in enumerate(zip(design, result.sequence)) if a != b}
    assert changed <= allowed
    assert burst.searched and result.units == len(burst.searched)


class _Clock:
    """A monotonic clock that ticks 1 per reading; a fold (see ``_slow_folds``) takes 10."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now


def _slow_folds(monkeypatch) -> _Clock:
    clock = _Clock()
    real_fold = negative_design.fold
    real_band = negative_design.suboptimal_structures

    def fold(sequence, energy=None):
        clock.now += 10.0
        return real_fold(sequence, energy)

    def band(sequence, width, energy=None):
        clock.now += 10.0
        return real_band(sequence, width, energy)

    monkeypatch.setattr(negative_design, "time", clock)
    monkeypatch.setattr(negative_design, "fold", fold)
    monkeypatch.setattr(negative_design, "suboptimal_structures", band)
    return clock


def test_a_burst_keeps_its_deadline_and_never_ends_farther_than_it_began(monkeypatch):
    target = LONELY_JUNCTION
    design, competitor = near_miss(target, 0)
    clock = _slow_folds(monkeypatch)
    result = _burst(target, design, competitor).run(500.0)
    # Past the deadline by at most the first fold (its time unknown until made) and the
    # clock readings around it; every later fold starts only when its 11 ticks fit.
    assert 500.0 <= clock.now <= 513.0
    # It cannot be solved (the target is undesignable), nor beat this competitor: the
    # competitor is proved to win for every sequence, so nothing is ever folded.
    assert not result.solved and result.folds == 0
    assert hamming(result.structure, target) <= hamming(competitor, target)
    assert mfe_structure(result.sequence) == result.structure
    assert 1 <= result.competitors <= negative_design.MAX_COMPETITORS
    # A deadline already passed: the near-miss comes back unfolded.
    late = _burst(target, design, competitor).run(clock.now - 1.0)
    assert (late.sequence, late.structure, late.folds) == (design, competitor, 0)


def test_a_fold_that_would_not_fit_is_not_made(monkeypatch):
    design, competitor = near_miss(LONELY, 0)
    clock = _slow_folds(monkeypatch)
    burst = _burst(LONELY, design, competitor)
    burst._fold_seconds = 1000.0  # folds are known to take longer than the burst has
    result = burst.run(clock.now + 500.0)
    assert result.folds == 0 and result.sequence == design
    fitting = _burst(LONELY, design, competitor).run(clock.now + 500.0)
    assert fitting.folds >= 1  # the same burst folds when they fit


def test_designs_the_rules_forbid_are_never_folded():
    design, competitor = near_miss(LONELY, 2)
    result = _burst(LONELY, design, competitor, 2, allowed=lambda d: False).run(
        time.monotonic() + 0.3
    )
    assert result.folds == 0 and result.sequence == design and not result.solved


def test_the_competitor_set_is_capped_and_keeps_the_first(monkeypatch):
    monkeypatch.setattr(negative_design, "MAX_COMPETITORS", 3)
    design, competitor = near_miss(LONELY, 0)
    burst = _burst(LONELY, design, competitor)
    burst._add_competitors(["." * (len(LONELY) - 4) + "(..)", "1", "2"])
    burst._add_competitors(["3", "4"])
    assert burst._competitors == [competitor, "3", "4"]
    burst._add_competitors([burst._competitors[-1]])  # a known one is not added twice
    assert len(burst._competitors) == 3


def test_a_fold_adds_the_band_of_structures_above_its_mfe():
    design, competitor = near_miss(LONELY, 0)
    burst = _burst(LONELY, design, competitor, band=1.5)
    structure, added = burst._probe(design)
    band = [s for s, _ in suboptimal_structures(design, 1.5) if s != LONELY]
    assert structure == mfe_structure(design) and structure in added
    assert len(added) > 1 and added == band[: negative_design.BAND_COMPETITORS]
    # Band 0: the MFE structure alone, as before the band.
    assert _burst(LONELY, design, competitor, band=0.0)._probe(design) == (
        structure,
        [structure],
    )


def test_the_band_seeds_the_competitors_before_any_fold():
    design, competitor = near_miss(LONELY, 0)
    never = {"allowed": lambda d: False}  # nothing is folded: only the seeding adds
    banded = _burst(LONELY, design, competitor, band=1.5, **never).run(time.monotonic() + 0.2)
    alone = _burst(LONELY, design, competitor, band=0.0, **never).run(time.monotonic() + 0.2)
    assert banded.folds == alone.folds == 0
    assert banded.competitors > 1 and alone.competitors == 1


def test_the_mfe_fold_decides_when_the_target_ties_the_band_lowest(monkeypatch):
    design, competitor = near_miss(LONELY, 0)
    burst = _burst(LONELY, design, competitor)
    monkeypatch.setattr(
        negative_design,
        "suboptimal_structures",
        lambda *args: [(competitor, -5.0), (LONELY, -5.0), ("." * len(LONELY), -4.5)],
    )
    monkeypatch.setattr(negative_design, "fold", lambda *args: (LONELY, -5.0))
    structure, added = burst._probe(design)
    assert structure == LONELY and LONELY not in added and competitor in added
    # The target above the lowest: the lowest is the MFE structure, no fold asked.
    monkeypatch.setattr(
        negative_design,
        "suboptimal_structures",
        lambda *args: [(competitor, -5.0), (LONELY, -4.9)],
    )
    monkeypatch.setattr(negative_design, "fold", None)
    assert burst._probe(design) == (competitor, [competitor])


def test_bad_bursts_are_refused():
    design, competitor = near_miss(LONELY, 0)
    with pytest.raises(ValueError, match="competitor is the target"):
        _burst(LONELY, design, LONELY)
    with pytest.raises(ValueError, match="differ in length"):
        _burst(LONELY, design + "A", competitor)
    for band in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="band"):
            _burst(LONELY, design, competitor, band=band)


def test_a_target_without_choices_returns_the_near_miss_at_once():
    target, design = "((((....))))", "GGGGAAAACCCC"
    competitor = mfe_structure(design)
    if competitor == target:
        competitor = "(((......)))"
    fixed = "GGGGAAAACCCC"  # every site fixed by the IUPAC codes
    result = _burst(target, design, competitor, constraint=fixed).run(time.monotonic() + 5)
    assert result.units == 0 and result.folds == 0 and result.sequence == design


def _stalled(monkeypatch, negative: float, seed: int = 0, **kwargs) -> EnsembleSearch:
    monkeypatch.setattr(ensemble_search, "NEGATIVE_PATIENCE", 0)
    search = EnsembleSearch(
        LONELY, np.random.default_rng(seed), gu_pairs=True, negative=negative, **kwargs
    )
    design, _ = near_miss(LONELY, seed)
    search.offer(design)
    search._step_seconds = 0.01
    return search


def _burst_spy(monkeypatch, now: float = 1000.0) -> list[float]:
    """Freeze the stage's clock at ``now``; bursts record their deadline and end at once,
    with the origin's first unit changed."""
    monkeypatch.setattr(ensemble_search, "time", SimpleNamespace(monotonic=lambda: now))
    deadlines: list[float] = []

    def run(burst: NegativeDesign, deadline: float) -> NegativeResult:
        deadlines.append(deadline)
        other = ("C" if burst.origin[0] == "G" else "G") + burst.origin[1:]
        return NegativeResult(other, "." * len(other), False, 3, 2, len(burst.searched))

    monkeypatch.setattr(NegativeDesign, "run", run)
    return deadlines


def test_the_stage_bursts_from_a_stalled_near_miss_and_evaluates_the_end(monkeypatch):
    search = _stalled(monkeypatch, 300)
    origin = search.best.sequence
    deadlines = _burst_spy(monkeypatch)
    mutant = search._negative_mutant(1060.0)
    assert deadlines == [1000.0 + 300 * 0.01]  # its budget, in evaluations' time
    assert search.negative_bursts == 1 and search.negative_folds == 3
    assert origin in search._negative_origins
    assert mutant is not None and mutant != origin and mutant[1:] == origin[1:]
    # The same near-miss gets no second burst.
    search._negative_since = -100  # as if the patience had passed again
    again = search._negative_mutant(1060.0)
    assert again is None and search.negative_bursts == 1
    # At most half the time left; none when half of it is less than two steps.
    halved = _stalled(monkeypatch, 300, seed=1)
    deadlines.clear()
    halved._negative_mutant(1004.0)
    assert deadlines == [1002.0]
    short = _stalled(monkeypatch, 300, seed=2)
    assert short._negative_mutant(1000.03) is None and short.negative_bursts == 0


def test_a_stage_burst_solves_a_lonely_pair_target(monkeypatch):
    solved = 0
    for seed in range(3):
        search = _stalled(monkeypatch, 500, seed)
        search.run(time.monotonic() + 10.0, max_steps=3)
        solved += search.solved and search.negative_bursts >= 1
    assert solved >= 2


def test_no_burst_without_the_setting_before_the_patience_or_without_time(monkeypatch):
    search = _stalled(monkeypatch, 0)
    assert search._negative_mutant(time.monotonic() + 60) is None
    assert search.negative_bursts == 0
    patient = _stalled(monkeypatch, 300, seed=1)
    monkeypatch.setattr(ensemble_search, "NEGATIVE_PATIENCE", 5)
    assert patient._negative_mutant(time.monotonic() + 60) is None
    patient.evaluations += 5  # five evaluations later the best is the same
    patient._negative_mutant(time.monotonic() + 60)
    assert patient.negative_bursts == 1
    # The next burst waits for the patience again, counted from the last one's end.
    assert patient._negative_since == patient.evaluations
    with pytest.raises(ValueError, match="negative"):
        EnsembleSearch(LONELY, np.random.default_rng(0), negative=-1)


def test_a_stage_burst_keeps_the_rules(monkeypatch):
    rules = DesignConstraints(forbid=("GGG",))
    for seed in range(3):
        search = _stalled(monkeypatch, 200, seed, constraints=rules)
        mutant = search._negative_mutant(time.monotonic() + 30)
        assert mutant is None or "GGG" not in mutant


def test_only_one_island_goes_on_with_bursts(monkeypatch):
    search = _stalled(monkeypatch, 300)
    carrier = search.fork(np.random.default_rng(1), carry_repair=True)
    other = search.fork(np.random.default_rng(2))
    assert other.negative == 0 and carrier.negative == 300
    carrier._negative_mutant(time.monotonic() + 30)
    assert carrier.negative_bursts == 1
    search.merge([carrier, other])
    assert search.negative_bursts == 1 and search.negative_seconds == carrier.negative_seconds
    assert search.best.sequence in search._negative_origins or search.solved
    assert search._negative_since == search.evaluations


def test_the_config_carries_the_setting(stage_spy):
    from envs.dot_bracket import Target
    from meta import design as design_module
    from meta.config import LEARNA

    for bad in (-1, True, "many", None, 10**6):
        with pytest.raises(ValueError, match="ensemble_negative"):
            LEARNA.updated({"ensemble_negative": bad})
    chosen = design_module.load_checkpoint(None).config.updated({"ensemble_negative": 75})
    target = "((((((((....))))))))" + "." * 20 + "((((((((....))))))))"
    design_module.design(
        Target("t", target), method="meta-learna", time_limit=20, ensemble_share=0.5, config=chosen
    )
    assert stage_spy[-1][0]["negative"] == 75 and stage_spy[-1][1].negative == 75


def test_the_pieces_get_the_setting():
    target = "." * 30 + "((((((((" + "." * 20 + "))))))))" + "." * 30
    stage = EnsembleSearch(target, np.random.default_rng(2), negative=50, decompose_seconds=2.0)
    assert stage.decomposition is not None
    stage.decomposition.begin(stage.targeted_start(), 0.1)
    node = stage.decomposition.nodes[0]
    assert stage.decomposition._open(*node).negative == 50


def test_the_stage_benchmark_takes_the_setting(tmp_path, capsys, harness_spy):
    import json

    from benchmarks import ensemble_stage

    targets = tmp_path / "t.txt"
    targets.write_text(LONELY + "\n")
    arguments = [str(targets), "--seconds", "1", "--workers", "1", "--negative", "40"]
    assert ensemble_stage.main(arguments) == 0
    summary = json.loads(capsys.readouterr().out)
    row = summary["per_target"]["1"]
    assert summary["settings"]["negative"] == 40
    assert {"negative_bursts", "negative_folds", "negative_seconds"} <= row.keys()
    with pytest.raises(SystemExit) as stopped:
        ensemble_stage.main([str(targets), "--negative", "-1"])
    assert stopped.value.code == 2 and "--negative" in capsys.readouterr().err
    ensemble_stage.run_target(LONELY, ensemble_stage.StageSettings(1.0, negative=40), 0)
    assert harness_spy[-1].negative == 40

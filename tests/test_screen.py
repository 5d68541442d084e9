"""The ensemble stage's screen: no partition function for designs far from the target."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from envs import ensemble_search
from envs.dot_bracket import pair_table
from envs.ensemble_search import EnsembleSearch
from envs.folding import hamming, mfe_defects, mfe_structure, positional_defects

#: A multiloop of three hairpins (62 nt): random designs fold far from it, a search solves
#: it within a few hundred evaluations.
TARGET = "((((((((....))))..((((....))))...((((....))))....(((....)))))))"

#: Far enough in the future never to be reached by a test.
LATER = 600.0


def _random(length: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list("ACGU"), length))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_screened_evaluation_is_the_mfe_evaluation_and_an_unscreened_one_is_unchanged(seed):
    sequence = _random(len(TARGET), seed)
    distance = hamming(mfe_structure(sequence), TARGET)
    assert distance > 2
    full = positional_defects(sequence, TARGET)
    screened = positional_defects(sequence, TARGET, screen=distance - 1)
    cheap = mfe_defects(sequence, TARGET)
    assert screened[0] == cheap[0] == full[0]
    np.testing.assert_array_equal(screened[1], cheap[1])
    assert screened[2] == cheap[2] and screened[2] >= full[2]  # -gap / kT bounds ln p
    for kept in (distance, distance + 5, None):
        same = positional_defects(sequence, TARGET, screen=kept)
        np.testing.assert_array_equal(same[1], full[1])
        assert same[0] == full[0] and same[2] == full[2]
    assert not np.array_equal(full[1], cheap[1])  # the two evaluations tell apart


def _recorded(search: EnsembleSearch) -> list[tuple[int | None, object]]:
    """Wrap the search's evaluations: per evaluation, the screen distance before it and
    the candidate."""
    seen: list[tuple[int | None, object]] = []
    evaluate = search._evaluate

    def record(sequence):
        threshold = search._screen_distance()
        candidate = evaluate(sequence)
        seen.append((threshold, candidate))
        return candidate

    search._evaluate = record
    return seen


def test_designs_past_the_farthest_pool_member_skip_the_ensemble_and_enter_nothing():
    search = EnsembleSearch(
        TARGET, np.random.default_rng(0), pool_size=4, screen=3, grafts=0.2, rivals=0.5
    )
    evaluated = _recorded(search)
    search.offer(_random(len(TARGET), 50))  # far: the search walks in from it
    search.run(time.monotonic() + LATER, max_steps=600)
    assert search.screened > 0
    screened = 0
    for threshold, candidate in evaluated:
        # Screening starts once the pool is full, at its farthest member plus 3.
        if threshold is None or candidate.distance <= threshold:
            assert math.isfinite(candidate.objective)
            assert candidate.objective == pytest.approx(candidate.defects.mean())
            continue
        screened += 1
        assert candidate.objective == math.inf == candidate.probability
        cheap = mfe_defects(candidate.sequence, TARGET)
        np.testing.assert_array_equal(candidate.defects, cheap[1])
        assert candidate.sequence in search.seen
    assert screened == search.screened
    for candidate in search.pool:
        assert math.isfinite(candidate.objective)
    assert search.solved and mfe_structure(search.best.sequence) == TARGET


def test_a_screened_design_still_reveals_its_competitor_and_feeds_no_graft():
    search = EnsembleSearch(TARGET, np.random.default_rng(1), pool_size=2, screen=1, grafts=0.2)
    near = search.targeted_start()
    search.offer(near)
    search.offer(near[:-1] + ("A" if near[-1] != "A" else "C"))
    assert len(search.pool) == 2 and search.screened == 0
    farthest = max(c.distance for c in search.pool)
    # The second hairpin's 5' strand made A's: it opens, and the rest folds right, so its
    # MFE-only values there (gap tie-breakers of 1e-4) would beat any archived slice.
    far = near[:18] + "AAAA" + near[22:]
    assert hamming(mfe_structure(far), TARGET) > farthest + 1
    pool, archive = list(search.pool), search.archive.defects.copy()
    candidate = search.offer(far)
    assert search.screened == 1 and candidate.objective == math.inf
    assert search.pool == pool  # a screened design enters no pool, even one with room
    assert not search._enter([], candidate, "defect")
    assert not search._enter([], candidate, "probability")
    np.testing.assert_array_equal(search.archive.defects, archive)
    assert candidate.structure in search.rivals and far in search.seen
    # A design within the screen's reach is evaluated in full.
    inside = next(
        s
        for s in (_mutant(near, seed) for seed in range(200))
        if hamming(mfe_structure(s), TARGET) <= farthest + 1 and s not in search.seen
    )
    assert math.isfinite(search.offer(inside).objective) and search.screened == 1


def _mutant(sequence: str, seed: int) -> str:
    """``sequence`` with the letters of one pair of the target changed to another pair."""
    rng = np.random.default_rng(seed)
    partners = pair_table(TARGET)
    site = int(rng.choice(np.flatnonzero(partners >= 0)))
    chars = list(sequence)
    chars[site], chars[partners[site]] = ("GC", "CG", "AU", "UA", "GU", "UG")[rng.integers(6)]
    return "".join(chars)


def test_no_screen_without_the_setting_or_with_mfe_evaluations(monkeypatch):
    calls = []
    original = ensemble_search.positional_defects

    def spy(sequence, target, energy=None, screen=None):
        calls.append(screen)
        return original(sequence, target, energy, screen)

    monkeypatch.setattr(ensemble_search, "positional_defects", spy)
    off = EnsembleSearch(TARGET, np.random.default_rng(0), pool_size=2)
    off.offer(off.targeted_start())
    off.run(time.monotonic() + LATER, max_steps=60)
    assert off.screened == 0 and set(calls) == {None}
    mfe_only = EnsembleSearch(TARGET, np.random.default_rng(0), pool_size=2, screen=1, mfe_length=1)
    assert mfe_only._screen_distance() is None
    with pytest.raises(ValueError, match="screen"):
        EnsembleSearch(TARGET, np.random.default_rng(0), screen=-1)


def test_islands_add_their_screened_evaluations_up():
    search = EnsembleSearch(TARGET, np.random.default_rng(2), pool_size=3, screen=1)
    search.offer(_random(len(TARGET), 51))
    search.run(time.monotonic() + LATER, max_steps=10)
    before = search.screened
    islands = [search.fork(np.random.default_rng(k)) for k in (5, 6)]
    for island in islands:
        assert island.screened == 0
        island.run(time.monotonic() + LATER, max_steps=80)
    search.merge(islands)
    assert search.screened == before + sum(i.screened for i in islands)
    assert sum(i.screened for i in islands) > 0


def test_the_setting_is_checked_and_reaches_the_design_loop_and_the_harness(stage_spy, harness_spy):
    from benchmarks.ensemble_stage import StageSettings, main, run_target
    from envs.dot_bracket import Target
    from meta import design as design_module
    from meta.config import LEARNA

    for bad in (-1, True, 1.5, "far", None, 1001):
        with pytest.raises(ValueError, match="ensemble_screen"):
            LEARNA.updated({"ensemble_screen": bad})
    assert LEARNA.updated({"ensemble_screen": 7}).env.ensemble_screen == 7
    chosen = design_module.load_checkpoint(None).config.updated({"ensemble_screen": 4})
    design_module.design(
        Target("t", TARGET), method="meta-learna", time_limit=20, ensemble_share=0.5, config=chosen
    )
    assert stage_spy[-1][0]["screen"] == 4 and stage_spy[-1][1].screen == 4
    row = run_target(TARGET, StageSettings(seconds=5.0, starts=2, screen=2), seed=0)
    assert harness_spy[-1].screen == 2 and row["screened"] == harness_spy[-1].screened
    with pytest.raises(SystemExit) as exit_info:
        main(["unused.txt", "--screen", "-1"])
    assert exit_info.value.code == 2

"""Targeted starts, and the design loop folding a few before the policy (``quick_starts``)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from envs.constraints import DesignConstraints, gc_content, violations
from envs.dot_bracket import Target, pair_table
from envs.ensemble_search import EnsembleSearch
from envs.evaluation import TARGETED_START
from envs.folding import mfe_structure
from envs.loop_boosts import boost_letters
from envs.targeted_start import TargetedStarts
from meta.config import LEARNA
from meta.design import DesignResult, _DesignState, design

#: A hairpin a targeted start solves (G-C pairs, A loop: the loop boost is G...A).
HAIRPIN = "((((((....))))))"
#: An interior loop and a hairpin, each with a boost.
LOOPS = "((((((....((((....))))....))))))"


def test_a_start_pairs_gc_puts_a_in_loops_and_writes_the_boosts():
    starts = TargetedStarts(LOOPS)
    boosts = dict(starts.boosts)
    assert boosts == boost_letters(LOOPS) and boosts
    sequence = starts.draw(np.random.default_rng(0))
    for i, j in enumerate(pair_table(LOOPS)):
        if j > i:
            assert sequence[i] + sequence[j] in ("GC", "CG")
        elif j < 0:
            assert sequence[i] == boosts.get(i, "A")
    assert TargetedStarts(LOOPS, boost=False).boosts == []


def test_a_start_keeps_to_the_codes():
    code = "NNNNNNAUNNNNNNNNNNNNNNNNNNNNNNNN"[: len(LOOPS)]
    code = "UNNNN" + code[5:]  # site 0 must be U: its pair cannot be G-C
    starts = TargetedStarts(LOOPS, code, gu_pairs=True)
    for seed in range(5):
        sequence = starts.draw(np.random.default_rng(seed))
        assert sequence[0] == "U" and sequence[6:8] == "AU"
        assert sequence[31] in "AG"  # U pairs with A or G
        assert not violations(sequence, DesignConstraints(sequence=code))


def test_the_ensemble_stage_draws_the_same_starts():
    search = EnsembleSearch(LOOPS, np.random.default_rng(4), boost=True)
    expected = TargetedStarts(LOOPS).draw(np.random.default_rng(4))
    assert search.targeted_start() == expected


def test_a_solved_start_ends_the_run_before_the_policy():
    hairpin = Target("h", HAIRPIN)
    result = design(hairpin, method="meta-learna-adapt", time_limit=20, seed=1, quick_starts=3)
    assert result.solved and result.found_by == TARGETED_START
    assert result.episodes == 0 and 1 <= result.folds <= 3
    assert result.settings["quick_starts"] == 3
    policy = design(hairpin, time_limit=20, seed=1, ensemble_share=0)  # LEARNA's: none
    assert policy.settings["quick_starts"] == LEARNA.env.quick_starts == 0
    assert policy.solved and policy.found_by != TARGETED_START and policy.episodes > 0


def test_a_start_is_repaired_into_the_gc_range():
    rules = DesignConstraints(gc=(0.3, 0.45))
    result = design(Target("h", HAIRPIN), time_limit=20, seed=1, constraints=rules, quick_starts=3)
    assert result.solved and not violations(result.sequence, rules)
    assert 0.3 <= gc_content(result.sequence) <= 0.45


def _state(start: float, time_limit: float) -> _DesignState:
    result = DesignResult("t", LOOPS, method="learna", seed=0, time_limit=time_limit)
    return _DesignState(result, start, time_limit, 1, None, None)


@pytest.mark.parametrize("quick", [1, 3])
def test_starts_are_folded_only_within_their_share_of_the_time(quick):
    starts = TargetedStarts(LOOPS)
    fresh = _state(time.monotonic(), 60.0)
    fresh.fold_starts(starts, quick, np.random.default_rng(0))
    assert fresh.result.folds == quick or fresh.result.solved
    assert mfe_structure(fresh.result.sequence) == fresh.result.structure
    code = LOOPS.replace("(", "A").replace(")", "U").replace(".", "A")  # A-U pairs: a miss
    fixed = _state(time.monotonic(), 60.0)  # one possible start
    fixed.result.constraints = DesignConstraints(sequence=code)
    fixed.fold_starts(TargetedStarts(LOOPS, code), quick, np.random.default_rng(0))
    assert fixed.result.folds == 1 and fixed.result.distance > 0  # the same start once
    late = _state(time.monotonic() - 7.0, 60.0)  # its first tenth (6 s) is over
    late.fold_starts(starts, quick, np.random.default_rng(0))
    assert late.result.folds == 0 and not late.result.sequence


def test_the_cli_and_the_api_default_to_three_starts(capsys):
    import json

    from autorl import api
    from autorl.cli import main

    args = ["design", "--target", HAIRPIN, "--time-limit", "20", "--quiet", "--format", "json"]
    assert main(args) == 0
    [printed] = json.loads(capsys.readouterr().out)
    assert printed["settings"]["quick_starts"] == 3 and printed["found_by"] == TARGETED_START
    assert main([*args, "--quick-starts", "0"]) == 0
    [printed] = json.loads(capsys.readouterr().out)
    assert printed["settings"]["quick_starts"] == 0 and printed["found_by"] != TARGETED_START
    [result] = api.design(HAIRPIN, time_limit=20)
    assert result.settings["quick_starts"] == 3
    assert main([*args, "--quick-starts", "65"]) == 2

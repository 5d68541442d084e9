"""Restarts of the ensemble stage (EnsembleSearch's ``restart``, ``ensemble_restart``)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from envs.constraints import DesignConstraints
from envs.ensemble_search import RESTART_STARTS, EnsembleSearch, luby

#: No sequence folds into it: the interior loop of 32 unpaired sites is beyond ViennaRNA's
#: MAXLOOP (30), so a search on it never ends solved and keeps stalling.
BLOCKED = "((" + "." * 16 + "(((....)))" + "." * 16 + "))" + "((((....))))"

#: Far enough in the future never to be reached by a test.
LATER = 600.0


def _recorded(search: EnsembleSearch) -> tuple[list, list]:
    """Wrap the search's evaluations and restarts: every candidate, and per restart the
    stall it came after and the restarts made before it."""
    evaluated: list = []
    stalls: list = []
    evaluate, restart = search._evaluate, search._restart

    def record_evaluation(sequence):
        candidate = evaluate(sequence)
        evaluated.append(candidate)
        return candidate

    def record_restart():
        stalls.append((search.evaluations - search._best_since, search.restarts))
        restart()

    search._evaluate = record_evaluation
    search._restart = record_restart
    return evaluated, stalls


def test_luby_sequence():
    assert [luby(i) for i in range(1, 16)] == [1, 1, 2, 1, 1, 2, 4, 1, 1, 2, 1, 1, 2, 4, 8]
    assert luby(31) == 16 and luby(32) == 1
    with pytest.raises(ValueError, match="starts at 1"):
        luby(0)


def test_bad_restart_settings_are_refused():
    with pytest.raises(ValueError, match="restart"):
        EnsembleSearch(BLOCKED, np.random.default_rng(0), restart=-1)
    from meta.config import LEARNA

    for bad in (-1, True, 1.5, "often", None, 10**7):
        with pytest.raises(ValueError, match="ensemble_restart"):
            LEARNA.updated({"ensemble_restart": bad})
    assert LEARNA.updated({"ensemble_restart": 300}).env.ensemble_restart == 300


def test_a_stalled_search_restarts_after_luby_patience_and_keeps_its_best():
    search = EnsembleSearch(BLOCKED, np.random.default_rng(0), starts=4, restart=15)
    evaluated, stalls = _recorded(search)
    search.run(time.monotonic() + LATER, max_steps=400)
    assert search.restarts == len(stalls) >= 5
    # The k-th restart comes once the lead has stalled restart * luby(k) evaluations.
    assert stalls == [(15 * luby(k + 1), k) for k in range(len(stalls))]
    assert search.best.rank == min(c.rank for c in evaluated)
    assert search.lead is not None and search.lead.rank >= search.best.rank
    assert search.evaluations == len(evaluated) == len(search.seen)


def test_a_restart_empties_the_pools_and_evaluates_new_starts():
    search = EnsembleSearch(BLOCKED, np.random.default_rng(1), restart=10**6)  # never due
    search.offer(search.targeted_start())
    search.run(time.monotonic() + LATER, max_steps=200)
    best, rivals, seen = search.best, dict(search.rivals), set(search.seen)
    search._restart()
    assert search.pool == [] and search.lead is None and search.kick == 0
    assert search._best_since == search.evaluations and search.restarts == 1
    assert search.rivals == rivals and search.seen == seen and search.best is best
    spent = search._evaluate_starts(time.monotonic() + LATER)
    assert spent == RESTART_STARTS == len(search.pool)  # made without starts: the default
    assert not {c.sequence for c in search.pool} & seen  # none seen before
    assert search.lead is not None and search.lead in search.pool
    # The new starts are worse than 200 steps' best, which stays the result.
    assert search.lead.rank > best.rank and search.best is best


def test_without_the_setting_the_search_never_restarts():
    search = EnsembleSearch(BLOCKED, np.random.default_rng(0), starts=4)
    evaluated, stalls = _recorded(search)
    search.run(time.monotonic() + LATER, max_steps=300)
    assert search.restarts == 0 and stalls == []
    assert search.lead is search.best


def test_an_exhausted_search_restarts_instead_of_giving_up():
    """Four free units (256 designs) of a target no sequence folds into: without restarts
    the search gives up once every mutant it draws was seen; with them (a patience it never
    reaches) it starts over from unseen starts and sees more designs, each once."""
    code = list(BLOCKED.replace("(", "G").replace(")", "C").replace(".", "A"))
    for site in (3, 30, 50):
        code[site] = "N"
    code[46], code[57] = "N", "N"  # the pair (46, 57)
    rules = DesignConstraints(sequence="".join(code))
    seen = []
    for restart in (0, 10**6):
        search = EnsembleSearch(BLOCKED, np.random.default_rng(0), rules, restart=restart)
        search.offer("".join(code).replace("N", "A"))
        search.run(time.monotonic() + LATER, max_steps=10_000)
        assert not search.solved and search.evaluations == len(search.seen) <= 256
        seen.append((search.evaluations, search.restarts))
    assert seen[0][1] == 0 and seen[1][1] >= 1
    assert seen[1][0] > seen[0][0]


def test_islands_do_not_restart_and_merge_keeps_the_best_and_the_lead():
    search = EnsembleSearch(BLOCKED, np.random.default_rng(2), starts=4, restart=10)
    search.run(time.monotonic() + LATER, max_steps=120)
    assert search.restarts >= 1
    island = search.fork(np.random.default_rng(3))
    assert island.restart == 0 and search.restart == 10
    island.run(time.monotonic() + LATER, max_steps=200)
    assert island.restarts == search.restarts  # none of its own
    search.merge([island])
    assert search.best.rank == min(search.best.rank, island.best.rank)
    assert search.lead.rank <= island.lead.rank
    assert search.best.rank <= search.lead.rank


def test_the_design_loop_and_the_harness_pass_the_setting(stage_spy, harness_spy):
    from benchmarks.ensemble_stage import StageSettings, main, run_target
    from envs.dot_bracket import Target
    from meta import design as design_module

    chosen = design_module.load_checkpoint(None).config.updated({"ensemble_restart": 40})
    target = "((((((((....))))))))" + "." * 20 + "((((((((....))))))))"
    design_module.design(
        Target("t", target), method="meta-learna", time_limit=20, ensemble_share=0.5, config=chosen
    )
    assert stage_spy[-1][0]["restart"] == 40 and stage_spy[-1][1].restart == 40
    row = run_target(BLOCKED, StageSettings(seconds=1.0, starts=2, restart=5), seed=0)
    assert harness_spy[-1].restart == 5 and row["restarts"] == harness_spy[-1].restarts >= 1
    with pytest.raises(SystemExit) as exit_info:
        main(["unused.txt", "--restart", "-1"])
    assert exit_info.value.code == 2

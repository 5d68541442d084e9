"""The design loop's schedule horizon (``ensemble_horizon``): a run's first seconds do not
depend on its limit."""

from __future__ import annotations

import math
import time
from types import SimpleNamespace

import numpy as np
import pytest

from envs.dot_bracket import Target
from envs.ensemble_search import EnsembleSearch
from meta import design as design_module
from meta.config import LEARNA
from meta.design import DesignResult, _decompose_seconds, _DesignState

LONELY = "((((((((....))))..((((.(....).))))))))"


def _state(limit: float, share: float, horizon: float) -> tuple[_DesignState, SimpleNamespace]:
    began = time.monotonic()
    state = _DesignState(DesignResult("t", LONELY), began, limit, 1, None, None)
    env = SimpleNamespace(deadline=None, fold_time=lambda: 0.0, fold_seconds=None)
    state.bind(env)
    state.add_search(EnsembleSearch(LONELY, np.random.default_rng(0)), share, horizon)
    return state, env


def test_a_batch_plans_with_the_horizon_then_with_the_time_elapsed():
    state, env = _state(60.0, 0.5, 10.0)
    began = state.start
    # The first batch: half of the 10-s horizon, not half of the 60-s run.
    assert env.deadline - began == pytest.approx(5.0)
    # After 10 s the horizon still rules (max(10, 10)); after 20 s the time elapsed does,
    # so the turns double: 0-10, 10-20, 20-40, 40 to the end.
    for elapsed, end in ((10.0, 15.0), (20.0, 30.0)):
        state._turn_end = began + elapsed
        state._bound_batches()
        assert env.deadline - began == pytest.approx(end)
    # From 40 s the time left (the deadline, short of 60 s by the run's tail) rules.
    state._turn_end = began + 40.0
    state._bound_batches()
    assert env.deadline - began == pytest.approx(40.0 + 0.5 * (state.deadline - began - 40.0))
    # Near the end, the time left rules.
    state._turn_end = began + 56.0
    state._bound_batches()
    assert env.deadline - began == pytest.approx(56.0 + 0.5 * (state.deadline - began - 56.0))


def test_without_a_horizon_a_batch_plans_with_the_whole_run():
    state, env = _state(60.0, 0.5, 0.0)
    assert state.horizon == math.inf
    # Half of the whole run: its deadline, short of the limit by the run's tail.
    assert env.deadline - state.start == pytest.approx(0.5 * (state.deadline - state.start))
    assert 59.9 < state.deadline - state.start < 60.0


def test_a_run_no_longer_than_its_horizon_keeps_the_old_schedule():
    short, short_env = _state(10.0, 0.25, 10.0)
    old, old_env = _state(10.0, 0.25, 0.0)
    assert short_env.deadline - short.start == pytest.approx(old_env.deadline - old.start)
    assert short_env.deadline - short.start == pytest.approx(0.75 * (short.deadline - short.start))
    assert 9.9 < short.deadline - short.start < 10.0


def test_a_negative_horizon_is_refused():
    state = _DesignState(DesignResult("t", LONELY), time.monotonic(), 10.0, 1, None, None)
    with pytest.raises(ValueError, match="horizon"):
        state.add_search(EnsembleSearch(LONELY, np.random.default_rng(0)), 0.5, -1.0)


def test_the_hierarchical_starts_get_their_share_of_the_horizon():
    env = LEARNA.updated({"ensemble_share": 0.5, "ensemble_decompose": 0.3}).env
    assert _decompose_seconds(env, 60.0) == pytest.approx(1.5)  # 0.3 x 0.5 x 10
    assert _decompose_seconds(env, 4.0) == pytest.approx(0.6)  # shorter than the horizon
    assert _decompose_seconds(env, math.inf) == 0.0
    whole = LEARNA.updated({"ensemble_share": 0.5, "ensemble_horizon": 0}).env
    assert _decompose_seconds(whole, 60.0) == pytest.approx(9.0)  # the old schedule


@pytest.mark.parametrize("value", [-1.0, 86401.0, True, "10", float("nan")])
def test_the_configuration_refuses_a_bad_horizon(value):
    with pytest.raises(ValueError, match="ensemble_horizon"):
        LEARNA.updated({"ensemble_horizon": value})


def test_the_configured_horizon_reaches_the_design_loop(monkeypatch):
    seen: dict[str, float] = {}

    def spy(self, search, share, horizon=0.0, late_share=0.0):
        seen["horizon"], seen["late"] = horizon, late_share
        raise RuntimeError("stop here")

    monkeypatch.setattr(_DesignState, "add_search", spy)
    target = Target("t", LONELY)
    config = LEARNA.updated({"ensemble_horizon": 3.5, "ensemble_late_share": 0.75})
    with pytest.raises(RuntimeError, match="stop here"):
        design_module.design(target, config=config, time_limit=60, ensemble_share=0.5)
    assert seen["horizon"] == 3.5 and seen["late"] == 0.75
    with pytest.raises(RuntimeError, match="stop here"):
        design_module.design(target, time_limit=60, ensemble_share=0.5)
    assert seen["horizon"] == LEARNA.env.ensemble_horizon == 10.0
    assert seen["late"] == LEARNA.env.ensemble_late_share == 0.0


def test_the_late_share_takes_over_after_the_horizon():
    began = time.monotonic()
    state = _DesignState(DesignResult("t", LONELY), began, 60.0, 1, None, None)
    env = SimpleNamespace(deadline=None, fold_time=lambda: 0.0, fold_seconds=None)
    state.bind(env)
    state.add_search(EnsembleSearch(LONELY, np.random.default_rng(0)), 0.5, 10.0, 0.8)
    assert env.deadline - began == pytest.approx(5.0)  # before the horizon: the share
    state._turn_end = began + 10.0
    state._bound_batches()
    assert env.deadline - began == pytest.approx(10.0 + 0.2 * 10.0)  # then the late share
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="late share"):
            state.add_search(EnsembleSearch(LONELY, np.random.default_rng(0)), 0.5, 10.0, bad)
    with pytest.raises(ValueError, match="ensemble_late_share"):
        LEARNA.updated({"ensemble_late_share": 1.0})


def test_the_stage_turn_follows_the_late_share(monkeypatch):
    """After the horizon a turn runs late_share / (1 - late_share) times the policy's time."""
    clock = {"now": 1000.0}
    monkeypatch.setattr(design_module.time, "monotonic", lambda: clock["now"])
    state = _DesignState(DesignResult("t", LONELY), 1000.0, 60.0, 1, None, None)
    search = EnsembleSearch(LONELY, np.random.default_rng(0))
    state.add_search(search, 0.5, 10.0, 0.8)
    state._turn_end = 1010.0
    clock["now"] = 1014.0  # the policy's batch ran from 10 s to 14 s
    deadlines: list[float] = []
    monkeypatch.setattr(search, "run", lambda until, max_steps=None: deadlines.append(until))
    state.refine_turn()
    assert deadlines == [pytest.approx(1014.0 + 4.0 * 0.8 / 0.2)]


def test_the_late_share_reaches_the_schedule_from_the_cli_the_api_and_the_benchmark(
    monkeypatch,
):
    """autorl design / the API default to DEFAULT_ENSEMBLE_LATE_SHARE; 0 and F are passed on."""
    from autorl import api
    from autorl.cli import main
    from autorl.commands import benchmark

    seen: list[float] = []
    real = _DesignState.add_search

    def spy(self, search, share, horizon=0.0, late_share=0.0):
        seen.append(late_share)
        real(self, search, share, horizon, late_share)

    monkeypatch.setattr(_DesignState, "add_search", spy)
    assert 0 < design_module.DEFAULT_ENSEMBLE_LATE_SHARE < 1
    short = "((((((....))))))...((((((....))))))"  # solved at once: the test is the wiring
    args = ["design", "--target", short, "--time-limit", "20", "--quiet", "--format", "json"]
    assert main(args) == 0
    assert main([*args, "--ensemble-late-share", "0"]) == 0
    api.design(short, time_limit=20, ensemble_late_share=0.6)
    assert seen == [design_module.DEFAULT_ENSEMBLE_LATE_SHARE, 0.0, 0.6]
    for bad in (1.0, -0.1, True, "most", float("nan")):
        with pytest.raises(ValueError, match="ensemble_late_share"):
            api.design(short, time_limit=2, ensemble_late_share=bad)
    for text in ("1", "-0.5", "most"):
        assert main([*args, "--ensemble-late-share", text]) == 2
    # The benchmark runner records the setting in each row's config column (the shipped
    # model's configuration has 0, as meta-training leaves the stage off).
    base, _ = benchmark._base_config("meta-learna-adapt", None)
    assert base.env.ensemble_late_share == 0.0
    recorded = dict(benchmark._settings(None, base, 200, 0.5, 10, 0.5, ensemble_late_share=0.9))
    assert recorded["ensemble_late_share"] == 0.9
    unset = dict(benchmark._settings(None, base, 200, 0.5, 10, 0.5, ensemble_late_share=None))
    assert "ensemble_late_share" not in unset
    # `autorl benchmark` hands the flag (or its default) to those settings.
    handed: list[float | None] = []

    def settings_spy(*args, **kwargs):
        handed.append(args[6])
        raise ValueError("stop before any job")

    monkeypatch.setattr(benchmark, "_settings", settings_spy)
    run = ["benchmark", "--dataset", "rfam-taneda", "--method", "meta-learna-adapt"]
    assert main([*run, "--out", "unused", "--quiet"]) == 2
    assert main([*run, "--out", "unused", "--quiet", "--ensemble-late-share", "0.3"]) == 2
    assert handed == [design_module.DEFAULT_ENSEMBLE_LATE_SHARE, 0.3]

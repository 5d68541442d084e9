"""The design loop keeps its time limit, whatever the agent, and its episode budget."""

import math
import time

import numpy as np
import pytest

import envs.vector
from envs.dot_bracket import Target
from envs.vector import RnaDesignVecEnv
from meta.checkpoints import load_checkpoint
from meta.config import LEARNA
from meta.design import design, warm_up

#: Never solvable (hairpin loops of 2 nt), so a run lasts its whole budget.
IMPOSSIBLE = Target("x", "((((((((((..))))))))))" * 3)

#: An agent whose first PPO update alone takes far longer than the time limits here.
HEAVY = LEARNA.updated(
    {
        "lstm_layers": 2,
        "lstm_units": 64,
        "fc_layers": 2,
        "fc_units": 64,
        "state_radius": 32,
        "n_epochs": 30,
        "batch_size": 32,
        "n_envs": 128,
    }
)

SMALL = LEARNA.updated({"n_envs": 16})


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    warm_up()  # torch's lazy imports are not a run's time


def _timed(target: Target, **kwargs):
    start = time.monotonic()
    result = design(target, seed=0, device="cpu", **kwargs)
    return result, time.monotonic() - start


#: Margin of the wall-clock checks below. The precise figure (the worst overrun over sampled
#: configurations) is the benchmark's, `python -m autorl.overrun`; these tests catch the
#: failure itself: without the estimate, HEAVY's first update alone runs for minutes.
MARGIN = 3.0


def test_heavy_agent_ends_within_its_time_limit():
    result, taken = _timed(IMPOSSIBLE, config=HEAVY, time_limit=2.5)
    assert taken <= 2.5 + MARGIN
    # no update fits: the time left goes to sampling designs (none on a machine this busy)
    assert not result.solved and result.episodes <= result.folds
    assert not result.episodes or (result.sequence and result.distance > 0)


def test_heavy_adapt_run_ends_within_its_time_limit():
    checkpoint = load_checkpoint()  # the shipped model, with many epochs of small batches
    config = checkpoint.config.updated({"n_epochs": 50, "batch_size": 16})
    target = Target("long", IMPOSSIBLE.structure * 3)
    result, taken = _timed(target, method="meta-learna-adapt", config=config, time_limit=2.0)
    assert taken <= 2.0 + MARGIN
    assert not result.solved


def test_max_episodes_bounds_the_episodes_not_the_time():
    result, taken = _timed(IMPOSSIBLE, config=SMALL, time_limit=math.inf, max_episodes=40)
    assert 0 < result.episodes <= 40  # 16 + 16 + 8 of the third batch
    assert taken < 30
    data = result.to_dict()
    assert data["max_episodes"] == 40 and data["time_limit"] is None
    assert not result.solved and result.sequence


def test_max_episodes_with_a_time_limit_and_a_solvable_target():
    result = design(
        Target("hp", "((((((....))))))"), config=SMALL, time_limit=30, seed=0, max_episodes=500
    )
    assert result.solved and result.episodes <= 500
    assert result.to_dict()["time_limit"] == 30


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"time_limit": 5, "max_episodes": 0}, "max_episodes"),
        ({"time_limit": 5, "max_episodes": -3}, "max_episodes"),
        ({"time_limit": 5, "max_episodes": 2.5}, "max_episodes"),
        ({"time_limit": math.inf}, "max_episodes"),
        ({"time_limit": math.nan, "max_episodes": 10}, "time_limit"),
        ({"time_limit": math.nan}, "time_limit"),
        ({"time_limit": 0, "max_episodes": 10}, "time_limit"),
        ({"time_limit": -math.inf, "max_episodes": 10}, "time_limit"),
    ],
)
def test_bad_budgets_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        design(Target("t", "((....))"), config=SMALL, **kwargs)


# -- the vectorized environment's batch bounds ----------------------------------------------
def _finish_episodes(env: RnaDesignVecEnv):
    """Step every environment to the end of its episode; the last step's infos."""
    env.reset()
    steps = env.encodings[0].num_steps
    for _ in range(steps):
        _, rewards, dones, infos = env.step(np.zeros(env.num_envs, dtype=np.int64))
    assert dones.all()
    return rewards, infos


def test_vec_env_skips_the_folds_of_a_batch_past_its_deadline():
    env = RnaDesignVecEnv(["((((....))))"], n_envs=6, seed=0)
    env.deadline = time.monotonic() - 1.0
    rewards, infos = _finish_episodes(env)
    assert all(info.get("skipped") and "distance" not in info for info in infos)
    assert all("terminal_observation" in info for info in infos)
    assert not rewards.any() and env.total_episodes == 0 == env.total_folds
    env.deadline = None  # the episodes went on: the next batch is folded
    _, infos = _finish_episodes(env)
    assert all("distance" in info for info in infos) and env.total_episodes == 6


def test_vec_env_folds_a_batch_in_pieces_until_a_near_deadline(monkeypatch):
    evaluate = envs.vector.evaluate_batch

    def slow(jobs, **kwargs):  # folds of 0.2 s each
        time.sleep(0.2 * len(jobs))
        return evaluate(jobs, **kwargs)

    monkeypatch.setattr(envs.vector, "evaluate_batch", slow)
    env = RnaDesignVecEnv(["((((....))))"], n_envs=8, seed=0)
    env.fold_seconds = 0.2
    start = time.monotonic()
    env.deadline = start + 1.0
    _, infos = _finish_episodes(env)
    assert time.monotonic() - start < 1.0 + 0.3
    folded = ["distance" in info for info in infos]
    count = sum(folded)
    assert 3 <= count < 8 and env.total_episodes == count
    assert folded == [True] * count + [False] * (8 - count)  # the rest were skipped


def test_vec_env_with_ample_time_folds_exactly_as_without_a_deadline():
    plain = RnaDesignVecEnv(["((((((....))))))"], n_envs=8, seed=3)
    timed = RnaDesignVecEnv(["((((((....))))))"], n_envs=8, seed=3)
    timed.deadline = time.monotonic() + 3600
    for _ in range(2):
        _, a = _finish_episodes(plain)
        _, b = _finish_episodes(timed)
        assert [i["sequence"] for i in a] == [i["sequence"] for i in b]
        assert [i["folds"] for i in a] == [i["folds"] for i in b]
    assert timed.fold_seconds is not None and timed.total_folds == plain.total_folds


def test_vec_env_episode_limit_cuts_a_batch():
    env = RnaDesignVecEnv(["((((....))))"], n_envs=8, seed=0)
    env.episode_limit = 5
    _, infos = _finish_episodes(env)
    assert sum("distance" in info for info in infos) == 5 == env.total_episodes
    _, infos = _finish_episodes(env)
    assert not any("distance" in info for info in infos) and env.total_episodes == 5


def test_first_update_is_timed_before_the_folding_processes_start(monkeypatch):
    """Starting, the folding processes compete for the cores: an estimate timed beside
    them came out up to 25 times too long, and a short run then made no update at all."""
    import meta.design as md

    events: list[str] = []
    real_estimate, real_start = md.estimate_update_seconds, RnaDesignVecEnv.start_workers

    def estimate(*args, **kwargs):
        events.append("estimate")
        return real_estimate(*args, **kwargs)

    def start(self):
        events.append("start")
        return real_start(self)

    monkeypatch.setattr(md, "estimate_update_seconds", estimate)
    monkeypatch.setattr(RnaDesignVecEnv, "start_workers", start)
    result = design(IMPOSSIBLE, config=SMALL, time_limit=3.0, seed=0, device="cpu", workers=2)
    assert events[:2] == ["estimate", "start"]
    assert events.count("start") == 1
    assert result.episodes > 0

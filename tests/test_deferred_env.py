"""Deferred-reward vectorized environments (envs.deferred) and their rewards in SB3 (meta).

The evaluators below run in worker processes too (imported there by name).
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
from vec_env_helpers import PROVISIONAL, Artifact, Counter, finish_episodes

import envs.deferred
import envs.evaluation
import envs.vector
from envs.deferred import ARTIFACT, DeferredRewardVecEnv, Evaluation, EvaluationError
from envs.dot_bracket import Target
from envs.execution import ProcessExecutor, SerialExecutor, Unit, run_all
from envs.rna_design import RnaDesignConfig
from envs.vector import RnaDesignVecEnv
from meta.deferred_rewards import DeferredRewards, check_deferred_env

# ------------------------------------------------------------------ toy task and evaluators


def ones(artifact: tuple[int, ...], instance: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """The evaluator: one point per 1-action."""
    return float(sum(artifact)), {
        "ones": sum(artifact),
        "truncated": instance["TimeLimit.truncated"],
    }


def slow_ones(artifact: tuple[int, ...], instance: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """:func:`ones`, after a nap (so that rewards come back steps later)."""
    time.sleep(0.02)
    return ones(artifact, instance)


def fail_when_long(artifact: tuple[int, ...], instance: dict[str, Any]) -> tuple[float, dict]:
    if len(artifact) > 3:
        raise ValueError(f"boom after {len(artifact)} steps")
    return ones(artifact, instance)


def not_a_pair(artifact: Any, instance: dict[str, Any]) -> str:
    return "no reward"


def nap_forever(artifact: Any, instance: dict[str, Any]) -> tuple[float, dict]:
    time.sleep(60)
    return 0.0, {}


def survived(artifact: tuple[int, ...], instance: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """CartPole's reward for the last step, with the episode's length."""
    return 1.0, {"steps": len(artifact)}


def counters(lengths: list[int | None], limit: int | None = None) -> list:
    """Factories of :class:`Counter` episodes with artifacts (a TimeLimit of ``limit``)."""

    def make(length: int | None):
        def factory() -> gym.Env:
            env = Counter(length)
            if limit is not None:
                env = gym.wrappers.TimeLimit(env, limit)
            return Artifact(env)

        return factory

    return [make(length) for length in lengths]


@pytest.fixture(scope="module")
def workers():
    """Two worker processes shared by the tests (they import this module once)."""
    with ProcessExecutor(2) as executor:
        yield executor


@pytest.fixture(params=["serial", "process"])
def executor(request, workers):
    return SerialExecutor() if request.param == "serial" else workers


def _run(env: DeferredRewardVecEnv, steps: int, seed: int = 0):
    """Step ``env`` with seeded random actions; every step's (rewards, dones, infos)."""
    rng = np.random.default_rng(seed)
    env.reset()
    return [env.step(rng.integers(0, 2, env.num_envs))[1:] for _ in range(steps)]


# ------------------------------------------------------------------ immediate and deferred


def test_immediate_mode_rewards_the_terminal_step_with_the_evaluation(executor):
    env = DeferredRewardVecEnv(counters([2, 3]) + [Artifact(Counter(4))], ones, executor=executor)
    ended = 0
    for rewards, dones, infos in _run(env, 12):
        for index in range(3):
            if dones[index]:
                ended += 1
                assert rewards[index] == sum(infos[index][ARTIFACT]) == infos[index]["ones"]
                assert "pending" not in infos[index] and infos[index]["length"] == index + 2
            else:
                assert rewards[index] == 0.0
    env.close()
    assert ended == 6 + 4 + 3


def test_deferred_mode_returns_at_once_and_collect_gives_the_rewards(executor):
    immediate = DeferredRewardVecEnv(counters([2, 3, 4]), ones)
    deferred = DeferredRewardVecEnv(
        counters([2, 3, 4]), slow_ones, executor=executor, deferred=True
    )
    expected, tickets, got = {}, {}, {}
    immediate.reset(), deferred.reset()
    rng = np.random.default_rng(0)
    for step in range(12):
        actions = rng.integers(0, 2, 3)
        _, rewards, dones, infos = immediate.step(actions)
        _, provisional, dones_d, infos_d = deferred.step(actions)
        assert (dones == dones_d).all()
        for index in np.flatnonzero(dones):
            assert provisional[index] == PROVISIONAL
            expected[(step, int(index))] = (rewards[index], infos[index]["ones"])
            tickets[infos_d[index]["pending"]] = (step, int(index))
        for evaluation in deferred.collect(block=step % 5 == 0):
            got[tickets[evaluation.ticket]] = (evaluation.reward, evaluation.info["ones"])
            assert (evaluation.step_index, evaluation.env_index) == tickets[evaluation.ticket]
    last = deferred.collect(block=True)
    assert all(isinstance(e, Evaluation) and e.info["length"] >= 2 for e in last)
    got.update({tickets[e.ticket]: (e.reward, e.info["ones"]) for e in last})
    assert deferred.pending == 0 and got == expected and len(expected) == 13
    immediate.close(), deferred.close()


# ------------------------------------------------------------------ truncation


def test_truncation_is_reported_for_bootstrapping_and_termination_is_not():
    # env 0 would end after 5 steps but its TimeLimit truncates it after 3; env 1 ends at 2.
    env = DeferredRewardVecEnv(counters([5], limit=3) + counters([2]), ones)
    steps = _run(env, 6)
    truncated = [(s, i) for s, (_, d, infos) in enumerate(steps) for i in np.flatnonzero(d)]
    assert sorted(truncated) == [(1, 1), (2, 0), (3, 1), (5, 0), (5, 1)]
    for step, index in truncated:
        info = steps[step][2][index]
        assert info["TimeLimit.truncated"] == (index == 0) == info["truncated"]
        assert info["terminal_observation"].shape == (2,)
    assert not any("terminal_observation" in info for info in steps[0][2])
    env.close()


# ------------------------------------------------------------------ SB3's rollout buffer


class RolloutCheck(BaseCallback):
    """Checks every reward of a rollout against the evaluator (and SB3's bootstrap)."""

    def __init__(self):
        super().__init__()
        self.ended: list[tuple[int, int, dict]] = []
        self.checked = 0
        self.early = 0

    def _on_rollout_start(self) -> None:
        self.ended.clear()

    def _on_step(self) -> bool:
        row = self.model.rollout_buffer.pos
        for index in np.flatnonzero(self.locals["dones"]):
            self.ended.append((row, int(index), self.locals["infos"][index]))
        return True

    def _on_rollout_end(self) -> None:
        buffer, policy = self.model.rollout_buffer, self.model.policy
        expected = np.zeros_like(buffer.rewards)
        for row, index, info in self.ended:
            expected[row, index] = sum(info[ARTIFACT])
            if info["TimeLimit.truncated"]:
                obs = policy.obs_to_tensor(info["terminal_observation"])[0]
                value = policy.predict_values(obs)[0].item()
                expected[row, index] += self.model.gamma * value
        np.testing.assert_allclose(buffer.rewards, expected, rtol=1e-5, atol=1e-6)
        self.checked += 1


def test_deferred_rewards_land_at_their_step_and_env_in_a_ppo_rollout(executor):
    env = DeferredRewardVecEnv(
        counters([5, 5], limit=4) + counters([2, 3]), slow_ones, executor=executor, deferred=True
    )
    model = PPO("MlpPolicy", env, n_steps=16, batch_size=32, n_epochs=1, gamma=0.9, seed=0)
    episodes: list[dict] = []
    check = RolloutCheck()
    model.learn(128, callback=CallbackList([DeferredRewards(episodes.append), check]))
    assert check.checked == 2 and model.num_timesteps == 128
    assert any(e["truncated"] for e in episodes) and any(not e["truncated"] for e in episodes)
    assert env.pending == 0
    env.close()


def test_cartpole_with_a_time_limit_trains_with_ppo_through_the_env(workers):
    env = DeferredRewardVecEnv(
        [lambda: Artifact(gym.make("CartPole-v1", max_episode_steps=25)) for _ in range(4)],
        survived,
        executor=workers,
        deferred=True,
    )
    env.seed(0)
    truncations = []

    class Truncations(BaseCallback):
        def _on_step(self) -> bool:
            truncations.extend(i for i in self.locals["infos"] if i.get("TimeLimit.truncated"))
            return True

    episodes: list[dict] = []
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=64, n_epochs=2, seed=0)
    model.learn(384, callback=CallbackList([DeferredRewards(episodes.append), Truncations()]))
    assert model.num_timesteps == 384 and len(episodes) >= 4 * (96 // 25)
    assert truncations and all(1 <= e["steps"] <= 25 for e in episodes)
    env.close()
    assert run_all(workers, [Unit("still-running", abs, (-3,))])[0].value == 3


# ------------------------------------------------------------------ errors


def test_an_evaluator_that_raises_names_the_episode(workers):
    env = DeferredRewardVecEnv(counters([2, 4]), fail_when_long)
    with pytest.raises(EvaluationError, match=r"env 1 at step 3 .*ValueError: boom after 4"):
        _run(env, 4)
    deferred = DeferredRewardVecEnv(
        counters([2, 4]), fail_when_long, executor=workers, deferred=True
    )
    _run(deferred, 4)
    with pytest.raises(EvaluationError, match=r"env 1 at step 3 \(ticket 2\)") as raised:
        deferred.collect(block=True)
    assert "boom after 4 steps" in str(raised.value.__cause__.__cause__)  # the worker's traceback
    deferred.close()


def test_a_bad_evaluation_or_a_timeout_names_the_episode(workers):
    env = DeferredRewardVecEnv(counters([2]), not_a_pair)
    with pytest.raises(ValueError, match=r"env 0 at step 1 .*must return \(reward, info\)"):
        _run(env, 2)
    slow = DeferredRewardVecEnv(counters([2]), nap_forever, executor=workers, timeout=0.5)
    with pytest.raises(EvaluationError, match=r"env 0 at step 1 .*timeout of 0.5 s"):
        _run(slow, 2)
    slow.close()


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ([[], ones], {}, "at least one environment"),
        ([counters([2]), "ones"], {}, "evaluator must be callable"),
        ([[3], ones], {}, "environment 0: expected a gymnasium.Env"),
        ([counters([2]), ones], {"timeout": -1}, "timeout"),
        ([counters([2]), ones], {"gpus": -1}, "gpus"),
    ],
)
def test_bad_arguments_are_refused(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        DeferredRewardVecEnv(*args, **kwargs)


def test_deferred_rewards_refuses_what_it_cannot_serve():
    with pytest.raises(ValueError, match="collect"):
        check_deferred_env(DummyVecEnv(counters([2])))
    deferred = DeferredRewardVecEnv(counters([2]), ones, deferred=True)
    with pytest.raises(ValueError, match="norm_reward"):
        check_deferred_env(VecNormalize(deferred))
    check_deferred_env(VecNormalize(deferred, norm_reward=False))
    model = DQN("MlpPolicy", deferred, buffer_size=100, learning_starts=10)
    with pytest.raises(ValueError, match="on-policy"):
        model.learn(8, callback=DeferredRewards())


# ------------------------------------------------------------------ the rest of the VecEnv


def test_the_same_seed_gives_the_same_episodes():
    def episodes(seed: int):
        env = DeferredRewardVecEnv(counters([None, None]), ones)
        env.seed(seed)
        steps = _run(env, 20)
        return [(r.tolist(), d.tolist(), [i.get("length") for i in infos]) for r, d, infos in steps]

    assert episodes(3) == episodes(3) != episodes(4)


def test_action_masks_pass_through():
    env = DeferredRewardVecEnv([lambda: Counter(4), lambda: Counter(4)], ones)
    env.reset()
    assert is_masking_supported(env)
    assert env.action_masks().tolist() == [[True, True]] * 2
    env.step(np.array([0, 1]))
    assert get_action_masks(env).tolist() == env.action_masks().tolist() == [[True, False]] * 2
    plain = DeferredRewardVecEnv([lambda: gym.make("CartPole-v1")], ones)
    with pytest.raises(ValueError, match="no action_masks"):
        plain.action_masks()


class Recording(SerialExecutor):
    """A serial executor that records its units and shutdowns."""

    def __init__(self):
        super().__init__()
        self.units: list[Unit] = []
        self.shutdowns = 0

    def submit(self, unit: Unit) -> None:
        self.units.append(unit)
        super().submit(unit)

    def shutdown(self) -> None:
        self.shutdowns += 1
        super().shutdown()


def test_units_declare_the_resources_and_close_keeps_an_injected_executor():
    executor = Recording()
    env = DeferredRewardVecEnv(
        counters([2]), ones, executor=executor, deferred=True, cpus=2, gpus=0.5, timeout=7
    )
    _run(env, 2)
    (unit,) = executor.units
    assert (unit.cpus, unit.gpus, unit.timeout, unit.fn) == (2, 0.5, 7, ones)
    artifact, instance = unit.args
    assert len(artifact) == 2 and instance == {"length": 2, "TimeLimit.truncated": False}
    assert env.pending == 1
    env.close()  # cancels the evaluation in flight, leaves the executor running
    assert executor.shutdowns == 0 and not executor.wait() and env.pending == 0


def test_close_shuts_down_an_executor_the_env_made(monkeypatch):
    monkeypatch.setattr(envs.deferred, "SerialExecutor", Recording)
    env = DeferredRewardVecEnv(counters([2]), ones)
    env.close()
    assert env.evaluations.executor.shutdowns == 1


# ------------------------------------------------------------------ RNA design on the executors

TARGETS = ["((((....))))", "((((((....))))))....", "..((((....))))..((....))"]


def _designs(env: RnaDesignVecEnv, steps: int = 40) -> list[tuple[str, float]]:
    env.reset()
    rng = np.random.default_rng(1)
    out = []
    for _ in range(steps):
        _, rewards, dones, infos = env.step(rng.integers(0, 4, env.num_envs))
        out += [(infos[i].get("sequence", "skipped"), rewards[i]) for i in np.flatnonzero(dones)]
    return out


def test_rna_env_folds_on_an_injected_executor_and_leaves_it_running(workers):
    config = RnaDesignConfig(state_radius=3, local_improvement=3)
    plain = _designs(RnaDesignVecEnv(TARGETS, config, n_envs=4, seed=2))
    env = RnaDesignVecEnv(TARGETS, config, n_envs=4, seed=2, executor=workers)
    assert env.workers == 2 and _designs(env) == plain
    env.close()
    assert run_all(workers, [Unit("after-rna", abs, (-2,))])[0].value == 2
    with pytest.raises(ValueError, match="workers or an executor"):
        RnaDesignVecEnv(TARGETS, config, workers=2, executor=workers)


def test_rna_env_with_warm_workers_and_an_ample_deadline_folds_as_without():
    config = RnaDesignConfig(state_radius=3, local_improvement=3)
    plain = _designs(RnaDesignVecEnv(TARGETS, config, n_envs=8, seed=4))
    env = RnaDesignVecEnv(TARGETS, config, n_envs=8, seed=4, workers=2)
    env.start_workers()
    env.deadline = time.monotonic() + 3600  # folded on the workers, piece by piece
    assert _designs(env) == plain
    env.close()


def slow_batch(jobs: list, **kwargs) -> list:
    """``evaluate_batch`` at 0.3 s per design (it runs in the worker processes)."""
    time.sleep(0.3 * len(jobs))
    return envs.evaluation.evaluate_batch(jobs, **kwargs)


def test_rna_env_on_workers_skips_and_stops_the_folds_past_its_deadline(workers, monkeypatch):
    run_all(workers, [Unit(f"warm-{i}", slow_batch, ([],)) for i in range(2)])
    monkeypatch.setattr(envs.vector, "evaluate_batch", slow_batch)
    env = RnaDesignVecEnv(["((((....))))"], n_envs=8, seed=0, executor=workers)
    env.fold_seconds = 0.3
    env.reset()
    for _ in range(env.encodings[0].num_steps - 1):
        env.step(np.zeros(8, dtype=np.int64))
    start = time.monotonic()
    env.deadline = start + 1.0
    _, _, dones, infos = env.step(np.zeros(8, dtype=np.int64))
    assert dones.all() and time.monotonic() - start < 1.0 + 0.5
    folded = ["distance" in info for info in infos]
    count = sum(folded)
    assert 2 <= count < 8 and env.total_episodes == count
    assert folded == [True] * count + [False] * (8 - count)  # the rest skipped, and stopped
    assert run_all(workers, [Unit("after-deadline", abs, (-1,))])[0].value == 1


def test_rna_env_names_the_step_of_a_failed_fold(monkeypatch):
    def broken(jobs, **kwargs):
        raise RuntimeError("no folding today")

    monkeypatch.setattr(envs.vector, "evaluate_batch", broken)
    env = RnaDesignVecEnv(["((....))"], RnaDesignConfig(state_radius=2), n_envs=2, seed=0)
    last = env.encodings[0].num_steps - 1
    with pytest.raises(EvaluationError, match=rf"ended at step {last} .*RuntimeError: no folding"):
        finish_episodes(env)


def test_rna_deferred_folds_are_counted_and_name_their_target(monkeypatch):
    env = RnaDesignVecEnv(
        [Target("hairpin", "((....))")],
        RnaDesignConfig(state_radius=2),
        n_envs=2,
        seed=0,
        deferred=True,
        executor=SerialExecutor(),
    )
    _, rewards, dones, infos = finish_episodes(env)
    last = env.encodings[0].num_steps - 1
    assert dones.all() and not rewards.any() and env.pending == 2
    evaluations = env.collect()
    assert [(e.env_index, e.step_index) for e in evaluations] == [(0, last), (1, last)]
    assert [e.info["target_id"] for e in evaluations] == ["hairpin"] * 2
    assert env.total_episodes == 2 and env.total_folds >= 2 and env.pending == 0

    monkeypatch.setattr(envs.vector, "evaluate_batch", not_a_pair)
    finish_episodes(env)
    match = rf"env 0 at step {2 * last + 1}, target hairpin \(ticket 2\) failed: TypeError"
    with pytest.raises(EvaluationError, match=match):
        env.collect(block=True)

"""The pipelined design loop: PPO one rollout behind while the next batch folds.

``meta.pipelined_learning.learn_one_behind`` (any deferred-reward env, PPO, MaskablePPO
and RecurrentPPO), ``RnaDesignVecEnv.pipelined`` (a batch folded in the background gives
what a synchronous step gives), and the option through ``meta.design.design``, the API,
``autorl design`` and the throughput benchmark. The evaluators below run in worker
processes too (imported there by name).
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest
from sb3_contrib import MaskablePPO, RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from vec_env_helpers import Artifact, Counter, finish_episodes

import envs.evaluation
import envs.vector
from autorl.commands import options
from envs.deferred import ARTIFACT, DeferredRewardVecEnv, EvaluationError
from envs.dot_bracket import Target
from envs.execution import ProcessExecutor, Unit, run_all
from envs.rna_design import RnaDesignConfig
from envs.vector import RnaDesignVecEnv
from meta import design as design_module
from meta.deferred_rewards import PendingRewards
from meta.pipelined_learning import learn_one_behind


def slow_ones(artifact: tuple[int, ...], instance: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """One point per 1-action plus 10, after a nap (rewards come back a rollout later)."""
    time.sleep(0.01)
    return 10.0 + sum(artifact), {"ones": sum(artifact)}


def skip_long(artifact: tuple[int, ...], instance: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Episodes longer than 3 steps are skipped (no reward), as a design loop's deadline does."""
    if len(artifact) > 3:
        return 0.0, {"skipped": True}
    return 10.0 + sum(artifact), {}


def slow_batch(jobs: list, **kwargs) -> list:
    """``evaluate_batch`` at 0.2 s per design (it runs in the worker processes)."""
    time.sleep(0.2 * len(jobs))
    return envs.evaluation.evaluate_batch(jobs, **kwargs)


def broken_batch(jobs: list, **kwargs) -> list:
    raise RuntimeError("no folding today")


@pytest.fixture(scope="module")
def workers():
    """Two worker processes shared by the tests (they import this module once)."""
    with ProcessExecutor(2) as executor:
        yield executor


def _counters(workers, evaluator=slow_ones) -> DeferredRewardVecEnv:
    lengths = [2, 3, 5, 4]
    factories = [lambda n=n: Artifact(Counter(n)) for n in lengths]
    return DeferredRewardVecEnv(factories, evaluator, executor=workers, deferred=True)


class Audit(BaseCallback):
    """Records the updates made before each rollout and where episodes ended."""

    def __init__(self):
        super().__init__()
        self.updates_at_start: list[int] = []
        #: id(buffer) -> [(row, env, artifact)] of the rollout last sampled into it.
        self.ended: dict[int, list[tuple[int, int, tuple]]] = {}

    def _on_rollout_start(self) -> None:
        self.updates_at_start.append(self.model._n_updates)
        self.ended[id(self.model.rollout_buffer)] = []

    def _on_step(self) -> bool:
        buffer = self.model.rollout_buffer
        for index in np.flatnonzero(self.locals["dones"]):
            artifact = self.locals["infos"][index][ARTIFACT]
            self.ended[id(buffer)].append((buffer.pos, int(index), artifact))
        return True


def _audited(model, audit: Audit) -> list[dict[str, Any]]:
    """Wrap ``model.train``: check each rollout's rewards and returns when it is trained on."""
    trained: list[dict[str, Any]] = []
    real = model.train

    def train() -> None:
        buffer = model.rollout_buffer
        ended = audit.ended[id(buffer)]
        for row, index, artifact in ended:
            evaluated = 10.0 + sum(artifact)
            assert buffer.rewards[row, index] == pytest.approx(evaluated)
            if row < buffer.buffer_size - 1:  # the next row starts an episode: no bootstrap
                assert buffer.returns[row, index] == pytest.approx(evaluated)
        trained.append({"episodes": len(ended), "updates_before": model._n_updates})
        real()

    model.train = train
    return trained


def test_each_rollout_is_trained_on_its_evaluated_rewards_one_update_behind(workers):
    env = _counters(workers)
    model = PPO("MlpPolicy", env, n_steps=8, batch_size=16, n_epochs=1, seed=0)
    audit = Audit()
    trained = _audited(model, audit)
    assert learn_one_behind(model, 8 * 4 * 5, PendingRewards(), audit)
    # 5 rollouts, each trained once (the last after sampling ends), all with rewards.
    assert len(trained) == 5 and all(t["episodes"] >= 8 for t in trained)
    # Rollout k is sampled after k - 1 updates, rollout 0 and 1 before any.
    assert audit.updates_at_start == [0, 0, 1, 2, 3]
    assert model.num_timesteps == 160 and env.pending == 0
    env.close()


@pytest.mark.parametrize("algorithm", [MaskablePPO, RecurrentPPO])
def test_maskable_and_recurrent_ppo_learn_one_behind(workers, algorithm):
    env = _counters(workers)
    policy = "MlpLstmPolicy" if algorithm is RecurrentPPO else "MlpPolicy"
    extra = {"policy_kwargs": {"lstm_hidden_size": 8}} if algorithm is RecurrentPPO else {}
    model = algorithm(policy, env, n_steps=8, batch_size=16, n_epochs=1, seed=0, **extra)
    audit = Audit()
    trained = _audited(model, audit)
    episodes: list[dict] = []
    assert learn_one_behind(model, 8 * 4 * 3, PendingRewards(episodes.append), audit)
    assert len(trained) == 3 and audit.updates_at_start == [0, 0, 1]
    assert len(episodes) == sum(t["episodes"] for t in trained)
    env.close()


def test_before_update_can_stop_and_on_update_is_told_the_seconds(workers):
    env = _counters(workers)
    model = PPO("MlpPolicy", env, n_steps=8, batch_size=16, n_epochs=1, seed=0)
    seen: list[int] = []
    seconds: list[float] = []

    def before(buffer) -> bool:
        seen.append(model._n_updates)
        return len(seen) < 3

    rewards = PendingRewards()
    assert not learn_one_behind(model, 10**6, rewards, None, before, seconds.append)
    assert seen == [0, 1, 2] and len(seconds) == 2 and all(s > 0 for s in seconds)
    assert model.num_timesteps == 4 * 32  # the 4th rollout was sampled, then it stopped
    env.close()


def test_a_rollout_with_a_skipped_episode_is_never_trained_on(workers):
    env = _counters(workers, skip_long)
    model = PPO("MlpPolicy", env, n_steps=8, batch_size=16, n_epochs=1, seed=0)
    with pytest.raises(RuntimeError, match="skipped episodes"):
        learn_one_behind(model, 10**6, PendingRewards())
    rewards = PendingRewards()
    refused: list[bool] = []

    def before(buffer) -> bool:
        refused.append(id(buffer) in rewards.incomplete)
        return False

    env.collect(block=True)  # what the failed run left in flight
    learn_one_behind(model, 10**6, rewards, None, before)
    assert refused == [True] and model._n_updates == 0
    env.close()


# ------------------------------------------------------------------ RnaDesignVecEnv.pipelined

TARGETS = ["((((....))))", "((((((....))))))....", "..((((....))))..((....))"]


def _steps(env: RnaDesignVecEnv, steps: int, seed: int = 1):
    env.reset()
    rng = np.random.default_rng(seed)
    for step in range(steps):
        yield step, env.step(rng.integers(0, 4, env.num_envs))


def test_a_batch_folded_in_the_background_gives_the_synchronous_rewards(workers):
    config = RnaDesignConfig(state_radius=3, local_improvement=3)
    plain = RnaDesignVecEnv(TARGETS, config, n_envs=4, seed=2)
    expected = {}
    for step, (_, rewards, dones, infos) in _steps(plain, 80):
        for index in np.flatnonzero(dones):
            expected[(step, int(index))] = (float(rewards[index]), infos[index]["sequence"])
    env = RnaDesignVecEnv(TARGETS, config, n_envs=4, seed=2, executor=workers)
    env.pipelined = True
    tickets, got = {}, {}
    for step, (_, rewards, dones, infos) in _steps(env, 80):
        for index in np.flatnonzero(dones):
            assert rewards[index] == 0 and "distance" not in infos[index]
            tickets[infos[index]["pending"]] = (step, int(index))
        for e in env.collect(block=step % 7 == 0):
            got[tickets[e.ticket]] = (float(np.float32(e.reward)), e.info["sequence"])
            assert (e.step_index, e.env_index) == tickets[e.ticket]
    for e in env.collect(block=True):  # the step's rewards array is float32
        got[tickets[e.ticket]] = (float(np.float32(e.reward)), e.info["sequence"])
    assert got == expected and len(expected) > 15 and env.pending == 0
    assert env.total_episodes == len(expected)
    env.close()
    assert run_all(workers, [Unit("after-pipeline", abs, (-3,))])[0].value == 3


def test_folding_processes_started_under_a_batch_serve_the_next_ones():
    """A process started from a thread dies with it (the executor's PR_SET_PDEATHSIG):
    the batches share one thread for the environment's life."""
    with ProcessExecutor(2) as fresh:  # its processes start under the first batch
        env = RnaDesignVecEnv(
            TARGETS, RnaDesignConfig(state_radius=3), n_envs=4, seed=2, executor=fresh
        )
        env.pipelined = True
        evaluated = 0
        for _ in _steps(env, 80):
            evaluated += len(env.collect(block=True))
        assert evaluated == env.total_episodes > 10
        env.close()


def test_designs_beyond_the_episode_limit_come_back_skipped(workers):
    env = RnaDesignVecEnv(["((((....))))"], n_envs=8, seed=0, executor=workers)
    env.pipelined, env.episode_limit = True, 5
    _, _, dones, infos = finish_episodes(env)
    assert dones.all() and all("pending" in info for info in infos)
    evaluations = env.collect(block=True)
    assert [("distance" in e.info) for e in evaluations] == [True] * 5 + [False] * 3
    assert all(e.info.get("skipped") and e.reward == 0 for e in evaluations[5:])
    env.close()


def test_a_failed_background_fold_names_its_step(workers, monkeypatch):
    monkeypatch.setattr(envs.vector, "evaluate_batch", broken_batch)
    env = RnaDesignVecEnv(
        ["((....))"], RnaDesignConfig(state_radius=2), n_envs=2, seed=0, executor=workers
    )
    env.pipelined = True
    finish_episodes(env)
    last = env.encodings[0].num_steps - 1
    with pytest.raises(EvaluationError, match=rf"ended at step {last} .*no folding today"):
        env.collect(block=True)
    env.close()


def test_a_batch_in_flight_is_dropped_and_one_worker_is_refused(workers, monkeypatch):
    monkeypatch.setattr(envs.vector, "evaluate_batch", slow_batch)
    env = RnaDesignVecEnv(["((((....))))"], n_envs=8, seed=0, executor=workers)
    env.pipelined = True
    finish_episodes(env)
    assert env.pending == 8
    env.cancel_batches()  # the folds running end; none is started after
    assert env.pending == 0 and env.collect(block=True) == []
    env.close()
    assert run_all(workers, [Unit("after-cancel", abs, (-4,))])[0].value == 4
    serial = RnaDesignVecEnv(["((((....))))"], n_envs=2, seed=0)
    serial.pipelined = True
    with pytest.raises(RuntimeError, match="workers > 1"):
        finish_episodes(serial)


# ------------------------------------------------------------------ the design loop

HARD = "((.((.((....)).)).))..((.(((....))).))"


def _spy(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = design_module.learn_one_behind

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(design_module, "learn_one_behind", spy)
    return calls


def _design(**kwargs):
    return design_module.design(
        Target("h", HARD),
        method="learna",
        time_limit=float("inf"),
        seed=5,
        num_solutions=10**6,  # keep designing: the episode budget ends the run
        max_episodes=640,
        metrics=False,
        **kwargs,
    )


def test_the_pipelined_loop_learns_and_the_same_seed_gives_the_same_designs(monkeypatch):
    calls = _spy(monkeypatch)
    updates: list[float] = []
    real = design_module._DesignState.update_took

    def took(state, seconds: float) -> None:
        updates.append(seconds)
        real(state, seconds)

    monkeypatch.setattr(design_module._DesignState, "update_took", took)
    first = _design(workers=2)
    assert len(updates) >= 8  # 10 batches of 64: each but the last one or two trained on
    again = _design(workers=2)
    assert len(calls) == 2 and first.episodes == again.episodes == 640
    assert (first.sequence, first.distance) == (again.sequence, again.distance)
    assert first.solutions == again.solutions
    _design(workers=2, pipeline=False)
    _design(workers=1)  # folds in this process: nothing to overlap
    assert len(calls) == 2


@pytest.mark.parametrize(
    "settings, constraint",
    [
        ({"n_envs": 8, "lstm_units": 8, "lstm_mode": "episode"}, None),  # RecurrentPPO
        ({"n_envs": 8}, "N" * 35 + "GNN"),  # MaskablePPO
    ],
)
def test_recurrent_and_masked_agents_learn_in_the_pipelined_loop(monkeypatch, settings, constraint):
    from meta.config import LEARNA

    calls = _spy(monkeypatch)
    result = design_module.design(
        Target("h", HARD, constraint),
        method="learna",
        config=LEARNA.updated(settings),
        time_limit=float("inf"),
        seed=2,
        num_solutions=10**6,
        max_episodes=48,
        workers=2,
        metrics=False,
    )
    assert calls == [1] and result.episodes == 48 and result.sequence
    if constraint is not None:
        assert result.sequence[35] == "G"


def test_the_option_reaches_the_loop_from_the_cli_and_the_api(monkeypatch):
    from autorl import api
    from autorl.cli import main

    seen: list[bool] = []
    real = design_module._design_learna

    def spy(*args, **kwargs):
        seen.append(args[-1])
        return real(*args, **kwargs)

    monkeypatch.setattr(design_module, "_design_learna", spy)
    assert design_module.DEFAULT_PIPELINE is options.DEFAULT_PIPELINE is True
    short = "((((((....))))))...((((((....))))))"
    args = ["design", "--target", short, "--time-limit", "20", "--quiet", "--format", "json"]
    args += ["--quick-starts", "0"]  # a targeted start would solve it before the loop
    assert main(args) == 0
    assert main([*args, "--no-pipeline"]) == 0
    api.design(short, time_limit=20, pipeline=False, quick_starts=0)
    assert seen == [True, False, False]
    with pytest.raises(ValueError, match="pipeline must be True or False"):
        api.design(short, time_limit=2, pipeline="yes")


def test_every_result_records_how_it_was_made(capsys):
    from autorl.cli import main

    short = "((((((....))))))...((((((....))))))"
    args = ["design", "--target", short, "--time-limit", "20", "--quiet", "--format", "json"]
    recorded = []
    for extra in (
        ["--workers", "2", "--local-improvement", "3"],
        ["--workers", "2", "--no-pipeline"],
        [],
    ):
        assert main([*args, *extra]) == 0
        recorded.append(json.loads(capsys.readouterr().out)[0]["settings"])
    assert [(r["workers"], r["pipelined"]) for r in recorded] == [(2, True), (2, False), (1, False)]
    assert [r["local_improvement"] for r in recorded] == [3, 0, 0]
    assert recorded[0]["refinement"] == 200 and recorded[0]["ensemble_share"] == 0.5


def test_the_throughput_benchmark_takes_the_option(monkeypatch):
    from benchmarks import throughput

    seen: list[bool] = []

    def stop(*args, **kwargs):
        seen.append(args[-1])
        raise SystemExit(0)

    monkeypatch.setattr(throughput, "fold_rate", lambda *args: 100.0)
    monkeypatch.setattr(throughput, "parallel_fold_rate", lambda *args: 200.0)
    monkeypatch.setattr(throughput, "episode_rate", stop)
    for extra in ([], ["--no-pipeline"], ["--pipeline"]):
        with pytest.raises(SystemExit):
            throughput.main(["--length", "20", "--seconds", "1", *extra])
    assert seen == [True, False, True]

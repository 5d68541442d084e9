"""Environments in Ray actors (``RayVecEnv``), meta-training on Ray, lost actors, ``--device``.

The Ray tests run on a real Ray instance (the ``ray_cluster`` fixture; CI joins a
``ray start --head --num-cpus 2`` node) and are skipped where Ray is not installed. Every
``RayVecEnv`` here has at most 2 actors of 1 CPU, so it fits that node.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from autorl.cli import main
from envs.dot_bracket import Target
from envs.ray_vec_env import (
    EnvWorkersLost,
    GymVecEnvFactory,
    RayVecEnv,
    RolloutRedo,
    split,
    with_rollout_redo,
)
from envs.vector import RnaDesignVecEnv
from meta.checkpoints import load_checkpoint
from meta.cluster import Backend
from meta.config import META_LEARNA
from meta.training import MetaTrainer, MetaTrainSettings

REPO = Path(__file__).resolve().parents[1]
CARTPOLE = GymVecEnvFactory("CartPole-v1")
#: Short training targets (as in test_meta_training.py).
TRAIN = [
    "((((((....))))))........",
    "..((((((.....))))))...((((....))))",
    "(((((.....)))))..(((....)))",
    ".((((((((....)))).))))......",
]
#: 8 episodes in parallel: a rollout of 64 steps per env ends several episodes in each.
SMALL = META_LEARNA.updated({"n_envs": 8, "batch_size": 64})
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


@pytest.fixture
def train_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.txt"
    path.write_text("".join(f"t{i}\t{s}\n" for i, s in enumerate(TRAIN)))
    return path


def _kill(ray: Any, actor: Any) -> None:
    """Kill an actor and wait until Ray reports it dead (no later call can reach it)."""
    ray.kill(actor, no_restart=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            ray.get(actor.__ray_ready__.remote(), timeout=10)
        except ray.exceptions.RayActorError:
            return
        except ray.exceptions.GetTimeoutError:
            pass
        time.sleep(0.1)
    raise AssertionError("the killed actor is still alive")


# -- RayVecEnv ------------------------------------------------------------------


def test_split_shares_the_environments():
    assert split(5, 2) == [range(0, 2), range(2, 5)]
    assert [len(s) for s in split(64, 3)] == [21, 22, 21]
    with pytest.raises(ValueError, match="3 actors cannot share 2"):
        split(2, 3)


# Slow (~13 s): the default tier runs Ray env actors in test_meta_train_cli_with_ray_env_actors.
@pytest.mark.slow
def test_cartpole_in_ray_actors_equals_the_same_envs_run_locally(ray_cluster):
    env = RayVecEnv(CARTPOLE, n_envs=5, n_workers=2, seed=7)
    local = CARTPOLE(5, 7)
    try:
        assert isinstance(env, VecEnv) and env.num_envs == 5
        assert env.observation_space == local.observation_space
        assert env.action_space == local.action_space
        obs = env.reset()
        assert obs.shape == (5, 4) and np.array_equal(obs, local.reset())
        assert len(env.reset_infos) == 5
        rng = np.random.default_rng(0)
        finished = 0
        for _ in range(60):
            actions = rng.integers(0, 2, size=5)
            obs, rewards, dones, infos = env.step(actions)
            expected = local.step(actions)
            assert obs.shape == (5, 4) and rewards.shape == (5,) and dones.shape == (5,)
            assert dones.dtype == bool and len(infos) == 5
            assert all(env.observation_space.contains(row) for row in obs)
            for got, want in zip((obs, rewards, dones), expected[:3]):
                assert np.array_equal(got, want)
            for index in np.flatnonzero(dones):
                finished += 1
                assert np.array_equal(
                    infos[index]["terminal_observation"],
                    expected[3][index]["terminal_observation"],
                )
        assert finished > 0, "no episode ended: the terminal observations were not compared"

        assert env.seed(11) == local.seed(11) == list(range(11, 16))
        assert np.array_equal(env.reset(), local.reset())

        assert [spec.id for spec in env.get_attr("spec")] == ["CartPole-v1"] * 5
        env.set_attr("marker", "x", indices=[1, 3])
        assert env.get_attr("marker", indices=[3, 1]) == ["x", "x"]
        with pytest.raises(AttributeError):
            env.get_attr("marker", indices=[0])
        assert env.env_is_wrapped(gym.Wrapper) == local.env_is_wrapped(gym.Wrapper)
        assert env.env_method("get_wrapper_attr", "spec", indices=[4, 0])[0].id == "CartPole-v1"
        assert not env.has_attr("action_masks")

        dead = env.actors[1]  # a lost actor is replaced; the step that noticed says so
        _kill(ray_cluster, dead)
        with pytest.raises(EnvWorkersLost, match=r"1 environment actor\(s\) lost \(1\)") as lost:
            env.step(np.zeros(5, dtype=int))
        assert lost.value.actors == [1] and env.restarts == 1 and env.actors[1] != dead
        assert env.reset().shape == (5, 4)
        assert env.step(np.ones(5, dtype=int))[0].shape == (5, 4)
    finally:
        env.close()
        local.close()
    assert env.actors == []


def test_an_actor_whose_environment_cannot_be_built_is_a_clear_error(ray_cluster):
    with pytest.raises(RuntimeError, match="did not start: .*NoSuchEnv"):
        RayVecEnv(GymVecEnvFactory("NoSuchEnv-v0"), n_envs=2, n_workers=1)


# -- the redo mixin, without Ray -----------------------------------------------


class _LoseWorkersOnce(VecEnvWrapper):
    """Raises EnvWorkersLost at the ``at``-th step (then works)."""

    def __init__(self, venv: VecEnv, at: int):
        super().__init__(venv)
        self.at = at
        self.steps = 0

    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        self.steps += 1
        if self.steps == self.at:
            self.venv.step_wait()
            raise EnvWorkersLost([0], RuntimeError("simulated"))
        return self.venv.step_wait()


def _masked_rna_env() -> RnaDesignVecEnv:
    env = RnaDesignVecEnv([Target("c", "((((....))))", "NNNNAAAANNNN")], n_envs=4, seed=0)
    assert env.masked
    return env


@pytest.mark.parametrize("algorithm", ["PPO", "MaskablePPO"])
def test_the_redo_works_for_ppo_and_maskable_ppo(algorithm: str, caplog, tmp_path: Path):
    if algorithm == "PPO":
        venv, cls = CARTPOLE(4, 0), PPO
    else:
        from sb3_contrib import MaskablePPO

        venv, cls = _masked_rna_env(), MaskablePPO
    env = _LoseWorkersOnce(venv, at=20)  # in the second rollout
    model = cls("MlpPolicy", env, n_steps=16, batch_size=32, n_epochs=1, seed=0, device="cpu")
    with_rollout_redo(model, max_redos=2)
    assert isinstance(model, RolloutRedo) and isinstance(model, cls)
    with caplog.at_level(logging.WARNING, logger="envs.ray_vec_env"):
        model.learn(total_timesteps=3 * 64)
    assert model.num_timesteps == 3 * 64 and model.rollout_redos == 1
    assert "redoing the rollout at 64 steps" in caplog.text
    model.save(tmp_path / "model.zip")  # the plain algorithm loads it
    assert type(cls.load(tmp_path / "model.zip", device="cpu")) is cls


def test_a_rollout_that_keeps_failing_ends_in_a_clear_error():
    class AlwaysLost(_LoseWorkersOnce):
        def step_wait(self):
            raise EnvWorkersLost([1], RuntimeError("node gone"))

    model = PPO("MlpPolicy", AlwaysLost(CARTPOLE(2, 0), 0), n_steps=8, batch_size=16, seed=0)
    with_rollout_redo(model, max_redos=2)
    with pytest.raises(RuntimeError, match="failed 3 times in a row"):
        model.learn(total_timesteps=64)
    assert model.num_timesteps == 0 and model.rollout_redos == 2


# -- meta-training on Ray ---------------------------------------------------------


def test_meta_train_cli_with_ray_env_actors(ray_cluster, train_file: Path, tmp_path: Path):
    config = tmp_path / "small.json"
    config.write_text(json.dumps({"n_envs": 8, "batch_size": 64}))
    out = tmp_path / "run"
    args = ["meta-train", "--train-data", str(train_file), "--config", str(config)]
    args += ["--timesteps", "1024", "--n-steps", "64", "--workers", "2", "--seed", "5"]
    code = main([*args, "--device", "cpu", "--backend", "ray", "--out", str(out), "--quiet"])
    assert code == 0
    checkpoint = load_checkpoint(out / "latest.zip")
    assert checkpoint.timesteps >= 1024 and checkpoint.meta["rollout_redos"] == 0
    run = json.loads((out / "run.json").read_text())
    assert run["backend"] == "ray" and run["settings"]["backend"] == "ray"
    assert run["settings"]["workers"] == 2 and run["settings"]["device"] == "cpu"
    progress = (out / "logs" / "session-1" / "progress.csv").read_text().splitlines()
    header, last = progress[0].split(","), progress[-1].split(",")
    episodes = float(last[header.index("meta/episodes")])
    assert episodes >= 8, "every env ends at least one episode per rollout of 64 steps"
    assert 0.0 <= float(last[header.index("meta/mean_normalized_distance")]) <= 1.0


@pytest.mark.slow
def test_meta_training_survives_a_killed_env_actor(ray_cluster, train_file: Path, tmp_path, caplog):
    settings = MetaTrainSettings(
        train_data=train_file,
        out=tmp_path / "run",
        config=SMALL,
        timesteps=3 * 512,
        workers=2,
        n_steps=64,
        device="cpu",
        seed=2,
        backend=Backend("ray"),
    )
    progress = []

    def kill_once(p) -> None:
        progress.append(p)
        if len(progress) == 1:
            _kill(ray_cluster, trainer.env.actors[0])

    trainer = MetaTrainer(settings, on_progress=kill_once)
    with caplog.at_level(logging.WARNING, logger="envs.ray_vec_env"):
        latest = trainer.run()
    assert trainer.rollout_redos == 1 and "redoing the rollout at 512 steps" in caplog.text
    checkpoint = load_checkpoint(latest)
    assert checkpoint.timesteps >= 3 * 512 and checkpoint.meta["rollout_redos"] == 1
    assert progress[-1].episodes > 0 and trainer.env is None
    rows = (tmp_path / "run" / "logs" / "session-1" / "progress.csv").read_text().splitlines()
    header, last = rows[0].split(","), rows[-1].split(",")
    assert float(last[header.index("meta/rollout_redos")]) == 1


def test_meta_train_with_an_unreachable_ray_address_exits_2(train_file: Path, tmp_path: Path):
    with socket.socket() as probe:  # a port nobody listens at
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "run"
    command = [sys.executable, "-m", "autorl.cli", "meta-train", "--train-data", str(train_file)]
    command += ["--timesteps", "64", "--backend", "ray", "--ray-address", f"127.0.0.1:{port}"]
    env = {**os.environ, "AUTORL_RAY_CONNECT_TIMEOUT": "5"}
    proc = subprocess.run(
        [*command, "--out", str(out), "--quiet"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"127.0.0.1:{port}" in proc.stderr and not out.exists()


# -- --device -------------------------------------------------------------------------


@NO_CUDA
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_a_cuda_device_this_machine_lacks_is_refused(device: str, train_file: Path, tmp_path):
    with pytest.raises(ValueError, match="no CUDA device"):
        MetaTrainSettings(train_data=train_file, out=tmp_path / "r", timesteps=64, device=device)
    with pytest.raises(ValueError, match="--device: expected"):
        MetaTrainSettings(train_data=train_file, out=tmp_path / "r", timesteps=64, device="gpu")
    assert MetaTrainSettings(train_data=train_file, out=tmp_path, timesteps=1, device="CPU").device
    assert not (tmp_path / "r").exists()


@NO_CUDA
def test_meta_train_cli_device_cuda_exits_2_and_cpu_works(train_file: Path, tmp_path, capsys):
    args = ["meta-train", "--train-data", str(train_file), "--timesteps", "64", "--quiet"]
    assert main([*args, "--device", "cuda", "--out", str(tmp_path / "cuda")]) == 2
    assert "--device cuda: torch sees no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "cuda").exists()
    config = tmp_path / "small.json"
    config.write_text(json.dumps({"n_envs": 8, "batch_size": 64}))
    small = ["--config", str(config), "--n-steps", "8"]
    assert main([*args, *small, "--device", "cpu", "--out", str(tmp_path / "cpu")]) == 0
    run = json.loads((tmp_path / "cpu" / "run.json").read_text())
    assert run["settings"]["device"] == "cpu" and run["backend"] == "local"
    assert load_checkpoint(tmp_path / "cpu" / "latest.zip").timesteps >= 64


@pytest.mark.slow
def test_two_nodes_actors_spread_and_a_lost_node_is_survived():
    """Two Ray nodes on this machine: one actor per node; losing a node redoes the rollout."""
    pytest.importorskip("ray")
    script = Path(__file__).with_name("ray_multinode.py")
    root = str(script.parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=root,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["actor_nodes"] == 2  # SPREAD: one actor on each node
    assert result["alive_nodes_after"] == 1
    assert result["redos"] == 1 and result["restarts"] == 1
    assert result["oversubscribed"] == 1  # no free CPU left: placed unreserved, not stalled
    assert result["timesteps"] == 384  # the whole budget, the lost rollout redone


def test_meta_train_on_ray_credits_each_site(
    ray_cluster, train_file: Path, tmp_path: Path, return_bonuses
):
    config = tmp_path / "credit.json"
    config.write_text(json.dumps({"n_envs": 8, "batch_size": 64, "site_credit": 0.5}))
    args = ["meta-train", "--train-data", str(train_file), "--config", str(config)]
    args += ["--timesteps", "1024", "--n-steps", "64", "--workers", "2", "--seed", "5"]
    out = tmp_path / "run"
    code = main([*args, "--device", "cpu", "--backend", "ray", "--out", str(out), "--quiet"])
    assert code == 0
    seen = return_bonuses
    assert seen, "the actors' return bonuses never reached the rollouts"
    assert all(set(np.unique(bonus)) <= {0.0, 0.5} for bonus in seen)
    assert any(bonus.any() for bonus in seen)

"""``autorl train``: the agent configuration, the trainer's files, resume, --init, signals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autorl.cli import main
from meta.agents import (
    AGENTS,
    FLAT_KEYS,
    ZOO_CARTPOLE,
    AgentConfig,
    LinearSchedule,
    PpoSettings,
    agent_spec,
)
from meta.ppo_training import load_agent_checkpoint
from policies.vector import VectorPolicyConfig

REPO = Path(__file__).resolve().parents[1]
SMALL = {"n_steps": 256, "batch_size": 64, "n_epochs": 2}


def _write_config(folder: Path, values: dict, name: str = "small.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(values), encoding="utf-8")
    return path


def _train(*args: str) -> int:
    return main(["train", "--device", "cpu", "--quiet", *args])


def _monitor_rows(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[2:]


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2048-step run of the small configuration on CartPole."""
    folder = tmp_path_factory.mktemp("base")
    config = _write_config(folder, SMALL)
    out = folder / "run"
    assert (
        _train(
            "--task", "cartpole", "--timesteps", "2048", "--config", str(config), "--out", str(out)
        )
        == 0
    )
    return out


# --------------------------------------------------------------------------- configuration


def test_defaults_are_sb3_ppo_defaults_and_flat_round_trip():
    config = agent_spec("cartpole").default
    assert config == AgentConfig()
    kwargs = config.ppo.ppo_kwargs()
    assert kwargs == {
        "n_steps": 2048,
        "batch_size": 64,
        "n_epochs": 10,
        "learning_rate": 3e-4,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "clip_range": 0.2,
        "ent_coef": 0.0,
        "vf_coef": 0.5,
        "max_grad_norm": 0.5,
    }
    assert tuple(config.to_flat()) == FLAT_KEYS
    assert AgentConfig.from_flat(ZOO_CARTPOLE.to_flat()) == ZOO_CARTPOLE
    assert AgentConfig.from_flat(json.loads(json.dumps(ZOO_CARTPOLE.to_flat()))) == ZOO_CARTPOLE


def test_zoo_reference_and_linear_schedules():
    ppo = ZOO_CARTPOLE.ppo
    assert (ppo.n_envs, ppo.n_steps, ppo.batch_size, ppo.n_epochs) == (8, 32, 256, 20)
    assert (ppo.gamma, ppo.gae_lambda, ppo.entropy_coef) == (0.98, 0.8, 0.0)
    assert ZOO_CARTPOLE.policy == VectorPolicyConfig()
    kwargs = ppo.ppo_kwargs()
    assert kwargs["learning_rate"] == LinearSchedule(1e-3)
    assert kwargs["clip_range"](0.5) == pytest.approx(0.1)
    assert kwargs["learning_rate"](0.0) == 0.0


def test_config_errors_name_the_key(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown key 'n_step'.*known keys: policy_layers"):
        AgentConfig.from_flat({"n_step": 8})
    with pytest.raises(ValueError, match="gamma"):
        AgentConfig.from_flat({"gamma": 1.5})
    with pytest.raises(ValueError, match="lr_schedule"):
        PpoSettings(lr_schedule="cosine")
    with pytest.raises(ValueError, match="batch_size"):
        PpoSettings(batch_size=1)
    assert AgentConfig.from_flat({"n_steps": 64.0}).ppo.n_steps == 64
    with pytest.raises(ValueError, match="config file not found"):
        AgentConfig.load(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="expected a JSON object"):
        AgentConfig.load(_write_config(tmp_path, [1, 2]))
    with pytest.raises(ValueError, match="unknown task 'pong'; known tasks: cartpole"):
        agent_spec("pong")


def test_task_names_copy_matches_the_registry():
    from autorl.commands import train

    assert tuple(AGENTS) == train.TASKS
    assert all(spec.threshold == 475.0 for spec in AGENTS.values())


def test_environments():
    plain = agent_spec("cartpole").make_env(2, 0, None)
    variants = agent_spec("cartpole-variants").make_env(1, 0, None)
    try:
        assert plain.num_envs == 2
        assert plain.observation_space.shape == (4,)
        assert variants.observation_space.shape == (10,)
    finally:
        plain.close()
        variants.close()


# --------------------------------------------------------------------------- a run


def test_run_writes_its_files_and_a_loadable_checkpoint(base_run: Path):
    from stable_baselines3 import PPO

    for name in ("run.json", "latest.zip", "latest.json", "monitor.csv"):
        assert (base_run / name).is_file(), name
    assert (base_run / "learning_curve.png").stat().st_size > 0
    assert list((base_run / "logs" / "session-1").glob("events.out.tfevents.*"))
    assert (base_run / "logs" / "session-1" / "progress.csv").is_file()
    config, meta = load_agent_checkpoint(base_run / "latest")
    assert config == AgentConfig.from_flat(SMALL)
    assert meta["task"] == "cartpole" and meta["timesteps"] == 2048
    assert meta["interrupted"] is False and meta["init"] is None and meta["seed"] == 0
    run = json.loads((base_run / "run.json").read_text())
    assert run["config"] == config.to_flat() and run["task"] == "cartpole"
    model = PPO.load(base_run / "latest.zip", device="cpu")
    assert model.num_timesteps == 2048
    episodes = _monitor_rows(base_run / "monitor.csv")
    curve = (base_run / "learning_curve.csv").read_text().splitlines()
    assert len(curve) == len(episodes) + 1 > 1


def test_resume_continues_timesteps_and_appends_the_monitor(base_run: Path, tmp_path: Path):
    out = tmp_path / "run"
    shutil.copytree(base_run, out)
    before = _monitor_rows(out / "monitor.csv")
    assert _train("--task", "cartpole", "--timesteps", "4096", "--out", str(out), "--resume") == 0
    _, meta = load_agent_checkpoint(out / "latest.zip")
    assert meta["timesteps"] == 4096
    after = _monitor_rows(out / "monitor.csv")
    assert after[: len(before)] == before and len(after) > len(before)
    assert (out / "monitor.csv").read_text().count("#") == 1
    assert (out / "logs" / "session-2").is_dir()
    # A differing --config is refused.
    other = _write_config(tmp_path, {**SMALL, "n_epochs": 3}, "other.json")
    args = ("--task", "cartpole", "--timesteps", "8192", "--out", str(out), "--resume")
    assert _train(*args, "--config", str(other)) == 2


def test_init_loads_policy_weights_and_refuses_another_policy(base_run: Path, tmp_path: Path):
    import torch
    from stable_baselines3 import PPO

    config = _write_config(tmp_path, {**SMALL, "n_steps": 64, "learning_rate": 1e-12})
    out = tmp_path / "init"
    args = ["--task", "cartpole", "--timesteps", "64", "--config", str(config)]
    assert _train(*args, "--init", str(base_run / "latest.zip"), "--out", str(out)) == 0
    _, meta = load_agent_checkpoint(out / "latest.zip")
    assert meta["init"] == str(base_run / "latest.zip") and meta["timesteps"] == 64
    assert json.loads((out / "run.json").read_text())["init"] == meta["init"]
    source = PPO.load(base_run / "latest.zip", device="cpu").policy.state_dict()
    trained = PPO.load(out / "latest.zip", device="cpu").policy.state_dict()
    assert all(torch.allclose(source[key], trained[key], atol=1e-6) for key in source)

    wide = _write_config(tmp_path, {**SMALL, "policy_units": 32}, "wide.json")
    refused = tmp_path / "refused"
    args = ["--task", "cartpole", "--timesteps", "64", "--config", str(wide), "--out", str(refused)]
    assert _train(*args, "--init", str(base_run / "latest.zip")) == 2
    assert not refused.exists()
    assert _train(*args, "--init", str(base_run / "latest.zip"), "--resume") == 2


def test_lstm_policy_trains_with_recurrent_ppo(tmp_path: Path):
    from sb3_contrib import RecurrentPPO

    config = _write_config(
        tmp_path, {"n_steps": 128, "batch_size": 64, "n_epochs": 1, "policy_lstm_units": 16}
    )
    out = tmp_path / "lstm"
    assert (
        _train(
            "--task", "cartpole", "--timesteps", "256", "--config", str(config), "--out", str(out)
        )
        == 0
    )
    model = RecurrentPPO.load(out / "latest.zip", device="cpu")
    assert model.policy.lstm_actor.hidden_size == 16 and model.num_timesteps == 256


def test_cartpole_variants_sees_the_context(tmp_path: Path):
    from stable_baselines3 import PPO

    config = _write_config(tmp_path, {"n_steps": 128, "n_epochs": 1, "n_envs": 2})
    out = tmp_path / "variants"
    args = ("--task", "cartpole-variants", "--timesteps", "256", "--config", str(config))
    assert _train(*args, "--out", str(out), "--seed", "3") == 0
    model = PPO.load(out / "latest.zip", device="cpu")
    assert model.observation_space.shape == (10,)
    assert load_agent_checkpoint(out / "latest.json")[1]["seed"] == 3


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "pong", "--timesteps", "64"], "unknown task 'pong'"),
        (["--task", "cartpole", "--timesteps", "64", "--time-limit", "5"], "not allowed with"),
        (["--task", "cartpole"], "exactly one of --timesteps and --time-limit"),
        (["--task", "cartpole", "--timesteps", "0"], "--timesteps must be >= 1"),
        (["--task", "cartpole", "--timesteps", "64", "--device", "cuda"], "no CUDA device"),
        (["--task", "cartpole", "--timesteps", "64", "--resume"], "has no checkpoint"),
        (["--task", "cartpole", "--timesteps", "64", "--config", "BAD"], "unknown key 'n_step'"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
):
    import torch

    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    bad = _write_config(tmp_path, {"n_step": 64}, "bad.json")
    args = [str(bad) if arg == "BAD" else arg for arg in args]
    out = tmp_path / "out"
    assert _train(*args, "--out", str(out)) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
    assert not out.exists()


def test_an_existing_run_needs_resume(base_run: Path, capsys: pytest.CaptureFixture[str]):
    before = sorted(path.name for path in base_run.iterdir())
    assert _train("--task", "cartpole", "--timesteps", "64", "--out", str(base_run)) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert sorted(path.name for path in base_run.iterdir()) == before


# --------------------------------------------------------------------------- signals


@pytest.mark.slow
def test_sigint_writes_the_checkpoint_and_exits_130(tmp_path: Path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "autorl.cli", "train", "--task", "cartpole"]
    command += ["--time-limit", "60", "--device", "cpu", "--out", str(out)]
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        monitor = out / "monitor.csv"
        while time.monotonic() < deadline and process.poll() is None:
            if monitor.is_file() and len(_monitor_rows(monitor)) >= 3:
                break
            time.sleep(0.2)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        os.kill(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert "--resume continues" in stderr and "episodes:" in stdout
    _, meta = load_agent_checkpoint(out / "latest.zip")
    assert meta["interrupted"] is True and meta["timesteps"] > 0
    assert (out / "learning_curve.csv").is_file()


def test_trainer_reports_progress_and_checkpoints_periodically(tmp_path: Path):
    from meta.ppo_training import PpoTrainer, TrainSettings

    settings = TrainSettings(
        task="cartpole",
        out=tmp_path / "run",
        config=AgentConfig.from_flat({"n_steps": 64, "n_epochs": 1}),
        timesteps=256,
        device="cpu",
        checkpoint_every=1e-6,
    )
    statuses = []
    trainer = PpoTrainer(settings, on_progress=statuses.append)
    saved = []
    write = trainer.checkpoint
    trainer.checkpoint = lambda model: saved.append(model.num_timesteps) or write(model)
    trainer.run()
    assert [status.timesteps for status in statuses] == [64, 128, 192, 256]
    assert statuses[-1].budget == 1.0 and statuses[-1].episodes > 0
    assert statuses[-1].mean_return is not None
    assert saved == [64, 128, 192, 256, 256]  # after every rollout, then the final one


# Slow (~7 s): the default tier runs Ray env actors in test_ray_vec_env.
@pytest.mark.slow
def test_train_on_ray_runs_the_environments_in_actors(tmp_path, ray_cluster, capsys):
    config = tmp_path / "two.json"
    config.write_text(json.dumps({"n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 1}))
    out = tmp_path / "ray"
    args = ["train", "--task", "cartpole", "--config", str(config), "--timesteps", "512"]
    assert main([*args, "--backend", "ray", "--workers", "2", "--out", str(out), "--quiet"]) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["settings"]["backend"] == "ray" and record["settings"]["workers"] == 2
    assert json.loads((out / "latest.json").read_text())["_meta"]["timesteps"] == 512
    episodes = (out / "monitor.csv").read_text().splitlines()[2:]  # the JSON line, the header
    assert episodes  # written here, by the monitor around the actors
    capsys.readouterr()


def test_train_workers_bad_input(tmp_path, capsys):
    args = ["train", "--task", "cartpole", "--timesteps", "64", "--quiet"]
    assert main([*args, "--workers", "2", "--out", str(tmp_path / "a")]) == 2
    assert "use it with --backend ray" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_train_task_rna_runs_the_rna_trainer(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from meta.checkpoints import load_checkpoint

    targets = tmp_path / "train.txt"
    targets.write_text("t0\t((((....))))....\nt1\t..((((....))))..((...))\n", encoding="utf-8")
    config = _write_config(tmp_path, {"n_envs": 4})
    out = tmp_path / "rna"
    args = ["--task", "rna", "--train-data", str(targets), "--config", str(config)]
    assert _train(*args, "--timesteps", "64", "--seed", "2", "--out", str(out)) == 0
    checkpoint = load_checkpoint(out / "latest.zip")
    assert checkpoint.agent == "rna" and checkpoint.config.ppo.n_envs == 4
    # RNA-only and vector-only options are refused with one line, nothing written.
    for argv, message in [
        (["--task", "rna", "--timesteps", "64"], "--task rna needs --train-data"),
        ([*args, "--timesteps", "64", "--context", "gravity=2"], "--context: not for --task rna"),
        (["--task", "cartpole", "--train-data", str(targets), "--timesteps", "64"], "--train-data"),
    ]:
        assert _train(*argv, "--out", str(tmp_path / "no")) == 2
        error = capsys.readouterr().err.strip()
        assert message in error and len(error.splitlines()) == 1
        assert not (tmp_path / "no").exists()

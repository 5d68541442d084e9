"""``autorl optimize`` on Ray: same trials as locally, resume across backends, lost workers.

These tests run on a real Ray instance (the ``ray_cluster`` fixture; CI joins a
``ray start --head --num-cpus 2`` node) and are skipped where Ray is not installed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import bohb_helpers
import pytest
import ray_helpers

from autorl.bohb import BOHBConfig
from autorl.bohb.executor import Job
from autorl.bohb.run import run
from autorl.bohb.runlog import load_trials
from autorl.cli import main
from meta.cluster import Backend

ARGS = ["optimize", "--task", "counting-ones", "--dims", "2", "--seed", "3", "--quiet"]


@pytest.fixture(scope="module")
def ray_ready(ray_cluster):
    """Ray workers cannot import the tests' folder: ship the helper modules by value."""
    import ray.cloudpickle

    for module in (bohb_helpers, ray_helpers):
        ray.cloudpickle.register_pickle_by_value(module)
    yield ray_cluster
    for module in (bohb_helpers, ray_helpers):
        ray.cloudpickle.unregister_pickle_by_value(module)


def _trials(out):
    return [(r["trial"], r["config"], r["loss"], r["seed"]) for r in load_trials(out)]


# Slow (~12 s): the default tier runs Ray trials in
# test_two_ray_workers_run_every_trial_of_the_schedule.
@pytest.mark.slow
def test_one_ray_worker_logs_the_same_trials_as_one_local_worker(ray_ready, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert main([*ARGS, "--iterations", "2", "--out", str(local)]) == 0
    assert main([*ARGS, "--iterations", "2", "--backend", "ray", "--out", str(remote)]) == 0
    assert _trials(local) == _trials(remote)
    assert json.loads((remote / "run.json").read_text())["backend"] == "ray"
    assert (remote / "incumbent.json").is_file()


def test_two_ray_workers_run_every_trial_of_the_schedule(ray_ready, tmp_path):
    out = tmp_path / "two"
    args = [*ARGS, "--iterations", "3", "--workers", "2", "--backend", "ray"]
    assert main([*args, "--out", str(out)]) == 0
    records = load_trials(out)
    serial = tmp_path / "serial"
    assert main([*ARGS, "--iterations", "3", "--workers", "0", "--out", str(serial)]) == 0
    assert len(records) == len(load_trials(serial))
    assert all(r["status"] == "ok" for r in records)
    assert {r["worker"] for r in records} == {1, 2}


@pytest.mark.slow
def test_resume_moves_between_backends_without_repeating_trials(ray_ready, tmp_path, capsys):
    out = tmp_path / "moving"
    assert main([*ARGS, "--iterations", "1", "--out", str(out)]) == 0
    first = load_trials(out)
    resumed = [*ARGS, "--iterations", "2", "--out", str(out), "--resume"]
    assert main([*resumed, "--backend", "ray"]) == 0
    second = load_trials(out)
    assert second[: len(first)] == first and len(second) > len(first)
    again = [*ARGS, "--iterations", "3", "--out", str(out), "--resume"]
    assert main(again) == 0
    capsys.readouterr()
    final = load_trials(out)
    assert len({r["trial"] for r in final}) == len(final)  # nothing ran twice
    reference = tmp_path / "reference"
    assert main([*ARGS, "--iterations", "3", "--out", str(reference)]) == 0
    assert sorted(_trials(out)) == sorted(_trials(reference))


def _run(objective, out, workers=2, iterations=1, timeout=None):
    return run(
        objective,
        bohb_helpers.small_space(),
        BOHBConfig(1, 9, 3, seed=0),
        out_dir=out,
        iterations=iterations,
        workers=workers,
        timeout=timeout,
        backend=Backend("ray"),
    )


@pytest.mark.slow
def test_a_killed_worker_process_makes_the_trial_run_once_more(ray_ready, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    summary = _run(ray_helpers.KillOnce(str(markers)), tmp_path / "run")
    records = load_trials(tmp_path / "run")
    assert summary.failed == 0 and len(records) == summary.trials > 0
    assert all(r["status"] == "ok" for r in records)
    assert all(r["info"]["attempts"] == 2 for r in records)
    assert all("WorkerCrashedError" in r["info"]["retry_error"] for r in records)
    assert len(list(markers.iterdir())) == len(records)


@pytest.mark.slow
def test_a_worker_lost_twice_fails_the_trial_and_the_run_goes_on(ray_ready, tmp_path):
    summary = _run(ray_helpers.AlwaysKill(0.5), tmp_path / "run")
    records = load_trials(tmp_path / "run")
    lost = [r for r in records if r["config"]["x"] < 0.5]
    kept = [r for r in records if r["config"]["x"] >= 0.5]
    assert lost and kept and summary.incumbent is not None
    assert all(r["status"] == "failed" and r["info"]["attempts"] == 2 for r in lost)
    assert all("worker process lost on 2 attempts" in r["error"] for r in lost)
    assert all(r["status"] == "ok" for r in kept)


def test_a_trial_over_its_timeout_is_cancelled(ray_ready, tmp_path):
    start = time.monotonic()
    _run(bohb_helpers.sleepy, tmp_path / "run", timeout=lambda budget: 3.0)
    records = load_trials(tmp_path / "run")
    slow = [r for r in records if r["config"]["x"] < 0.3]
    assert slow and all("timeout of 3 s" in r["error"] for r in slow)
    assert time.monotonic() - start < 25 * len(slow)  # not the 30 s sleep per trial


def test_the_executor_refuses_to_oversubscribe(ray_ready):
    from autorl.bohb.ray_executor import RayExecutor

    with RayExecutor(bohb_helpers.quadratic, workers=1) as executor:
        executor.submit(Job("a", {"x": 0.1, "y": 0.2, "k": 1}, 1.0, 0))
        with pytest.raises(RuntimeError, match="no idle worker"):
            executor.submit(Job("b", {"x": 0.1, "y": 0.2, "k": 1}, 1.0, 0))
        [outcome] = executor.wait()
        assert outcome.status == "ok" and outcome.worker == 1


def test_gpus_per_trial_on_a_cluster_without_gpus_says_so(ray_ready, tmp_path, capsys):
    out = tmp_path / "gpu"
    args = [*ARGS, "--iterations", "1", "--backend", "ray", "--gpus-per-trial", "1"]
    assert main([*args, "--out", str(out)]) == 2
    assert "the Ray cluster has no GPU" in capsys.readouterr().err
    assert not out.exists()


def test_more_cpus_per_trial_than_any_node_has_says_so(ray_ready, tmp_path, capsys):
    args = [*ARGS, "--iterations", "1", "--backend", "ray", "--cpus-per-trial", "64"]
    assert main([*args, "--out", str(tmp_path / "cpu")]) == 2
    assert "no node of the Ray cluster has that many" in capsys.readouterr().err


def _cli(*args: str, timeout: float = 60, env_extra: dict | None = None):
    import os

    env = {**os.environ, "AUTORL_RAY_CONNECT_TIMEOUT": "3", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "autorl.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


# "silent" (~8 s, waits for a timeout) is slow; "refused" covers the path by default.
@pytest.mark.parametrize("kind", ["refused", pytest.param("silent", marks=pytest.mark.slow)])
def test_an_unreachable_ray_address_fails_fast_and_writes_nothing(tmp_path, kind):
    pytest.importorskip("ray")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        if kind == "silent":
            server.listen()  # accepts TCP, never answers like a Ray head
        else:
            server.close()
        out = tmp_path / "never"
        start = time.monotonic()
        result = _cli(
            *ARGS,
            "--iterations",
            "1",
            "--backend",
            "ray",
            "--ray-address",
            f"127.0.0.1:{port}",
            "--out",
            str(out),
        )
        seconds = time.monotonic() - start
    assert result.returncode == 2, result.stderr
    assert f"--ray-address 127.0.0.1:{port}" in result.stderr
    assert result.stdout == "" and not out.exists()
    assert seconds < 15  # abandoned at 3 s; Ray alone retries for ~20 s


def test_backend_bad_input_exits_2(tmp_path, capsys, monkeypatch):
    cases = [
        (["--backend", "spark"], "--backend: unknown 'spark'"),
        (["--ray-address", "auto"], "--ray-address needs --backend ray"),
        (["--backend", "ray", "--workers", "0"], "--workers 0 runs trials in this process"),
        (["--cpus-per-trial", "0"], "--cpus-per-trial must be > 0"),
        (["--gpus-per-trial", "1"], "--gpus-per-trial 1: this machine has 0 CUDA"),
    ]
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    for extra, message in cases:
        out = tmp_path / "bad"
        assert main([*ARGS, "--iterations", "1", *extra, "--out", str(out)]) == 2, extra
        assert message in capsys.readouterr().err, extra
        assert not out.exists()


def test_backend_ray_without_ray_installed_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main([*ARGS, "--iterations", "1", "--backend", "ray", "--out", str(tmp_path)]) == 2
    assert 'pip install -e ".[ray]"' in capsys.readouterr().err


def test_device_is_checked_for_the_tasks_that_train_policies(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    cases = [
        (["--device", "cpu"], "--device does not apply to --task counting-ones"),
        (["--task", "rna-learna", "--device", "cuda"], "torch sees no CUDA device"),
        (["--task", "rna-learna", "--device", "gpu"], "--device: expected auto|cpu|cuda[:N]"),
        (
            ["--task", "rna-learna", "--device", "cuda", "--backend", "ray"],
            "needs --gpus-per-trial > 0",
        ),
    ]
    base = ["optimize", "--iterations", "1", "--quiet"]
    for extra, message in cases:
        task = [] if "--task" in extra else ["--task", "counting-ones"]
        out = tmp_path / "dev"
        assert main([*base, *task, *extra, "--out", str(out)]) == 2, extra
        assert message in capsys.readouterr().err, extra
        assert not out.exists()

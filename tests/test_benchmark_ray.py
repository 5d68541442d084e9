"""``autorl benchmark --backend ray``: time limits, dead workers, resume across backends, CLI.

The fake solvers below run in a job's process on a Ray node: the task imports them by name
(``test_benchmark_ray:...``) through the ``sys.path`` entry the driver sends with the job.
"""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from autorl.cli import main
from benchmarks import ray_jobs, runner
from benchmarks.results import RESULT_FIELDS
from benchmarks.runner import RunnerConfig, load_rnainverse, run_benchmark
from envs.dot_bracket import Target
from envs.folding import EnergyModel, mfe_structure
from meta.cluster import Backend

RAY = Backend("ray")
THREE = [
    Target("a", "((((((....))))))"),
    Target("b", "((((....))))..((((....))))"),
    Target("c", "...(((((((...)))))))...(((((...)))))..."),
]


# ----------------------------------------------------------------------------- fake solvers
# They run in the job's process, a child of the Ray worker that runs the job's task.


def _marker(target_id: str) -> Path:
    return Path(tempfile.gettempdir()) / f"autorl-ray-test-{target_id}"


def _is_ray_worker(pid: int) -> bool:
    """Whether ``pid`` is a Ray worker process (its title is ``ray::...``)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            command = file.read()
    except FileNotFoundError:
        return False
    return command.startswith(b"ray::") or b"default_worker.py" in command


def _ray_worker_pid() -> int:
    """The pid of the Ray worker running this job (refusing any other parent)."""
    parent = os.getppid()
    if not _is_ray_worker(parent):
        raise RuntimeError("this fake solver only kills the Ray worker that runs it")
    return parent


def misbehaving_rnainverse(method, settings, model="", constraints=None, energy=None):
    """RNAinverse, except on targets whose id asks for trouble.

    ``slow*``: one poor design, then runs forever. ``die-once*``: kills its Ray worker unless
    its marker exists (it creates it first). ``die-always*``: kills its Ray worker.
    ``freeze*``: stops its Ray worker (SIGSTOP), recording the worker's pid in its marker.
    """
    real = load_rnainverse(method, settings, model, constraints, energy)

    def solve(target, *, time_limit, seed, on_improvement):
        marker = _marker(target.id)
        if target.id.startswith("slow"):
            marker.write_text(str(os.getpid()))
            on_improvement(SimpleNamespace(sequence="A" * len(target), distance=len(target)))
            while True:
                time.sleep(0.1)
        dies = target.id.startswith("die-always") or (
            target.id.startswith("die-once") and not marker.exists()
        )
        if dies or target.id.startswith("freeze"):
            worker = _ray_worker_pid()
            marker.write_text(str(worker))
            os.kill(worker, signal.SIGSTOP if target.id.startswith("freeze") else signal.SIGKILL)
            while True:  # the worker's death takes this process along (PR_SET_PDEATHSIG)
                time.sleep(0.1)
        return real(target, time_limit=time_limit, seed=seed, on_improvement=on_improvement)

    return solve


@pytest.fixture
def fake_methods(monkeypatch):
    monkeypatch.setitem(runner.SOLVERS, "rnainverse", "test_benchmark_ray:misbehaving_rnainverse")


@pytest.fixture
def token():
    """A unique suffix for target ids, and the removal of their markers afterwards."""
    token = uuid.uuid4().hex[:8]
    yield token
    for path in Path(tempfile.gettempdir()).glob(f"autorl-ray-test-*{token}"):
        path.unlink(missing_ok=True)


def _csv_rows(out):
    with open(out / "results.csv", newline="") as file:
        return list(csv.DictReader(file))


def _write_targets(path, targets):
    path.write_text("".join(f"{t.id}\t{t.structure}\n" for t in targets))
    return path


# ----------------------------------------------------------------------------- tests


@pytest.mark.slow
def test_an_overrunning_job_times_out_and_the_others_finish(
    tmp_path, ray_cluster, fake_methods, token
):
    slow_id = f"slow-{token}"
    targets = [*THREE[:2], Target(slow_id, THREE[2].structure)]
    config = RunnerConfig("rnainverse", time_limit=3, grace=0.5, seed=1)
    start = time.monotonic()
    rows = run_benchmark("three", targets, config, tmp_path, backend=RAY)
    assert time.monotonic() - start < 150  # a hang, not load: the limit is checked below
    by_id = {row["target_id"]: row for row in rows}
    assert sorted(by_id) == ["a", "b", slow_id]
    slow = by_id.pop(slow_id)
    assert slow["status"] == "timeout" and slow["solved"] == 0
    assert slow["sequence"] == "A" * len(targets[2])  # the reported design, refolded
    assert slow["best_distance"] > 0
    assert 3 <= float(slow["elapsed"]) <= 3 + 0.5 + 3
    for row in by_id.values():
        assert row["status"] == "finished" and row["solved"] == 1 and row["error"] == ""
        assert mfe_structure(row["sequence"]) == row["target"]
        assert float(row["elapsed"]) <= 3 + 0.5 + 3
    on_disk = _csv_rows(tmp_path)
    assert list(on_disk[0]) == list(RESULT_FIELDS)
    assert sorted(row["target_id"] for row in on_disk) == ["a", "b", slow_id]
    assert all(row["backend"].startswith("ray:") for row in on_disk)


# Slow (~7 s, a Ray failure like the rest of the slow tier's).
@pytest.mark.slow
def test_a_killed_worker_is_retried_once(tmp_path, ray_cluster, fake_methods, token):
    once, always = f"die-once-{token}", f"die-always-{token}"
    targets = [Target(once, THREE[0].structure), Target(always, THREE[1].structure)]
    config = RunnerConfig("rnainverse", time_limit=3, grace=0.5)
    rows = run_benchmark("dying", targets, config, tmp_path, backend=RAY)
    by_id = {row["target_id"]: row for row in rows}
    assert sorted(by_id) == sorted([once, always])  # the run went on and completed
    recovered, failed = by_id[once], by_id[always]
    assert recovered["status"] == "finished" and recovered["solved"] == 1
    assert recovered["error"].startswith("retried once after: worker died: ")
    assert failed["status"] == "error" and failed["solved"] == 0
    assert failed["error"].startswith("worker died: ")  # e.g. WorkerCrashedError: ...
    assert failed["error"].endswith("(retried once: the retry failed the same way)")
    assert len(_csv_rows(tmp_path)) == 2  # one row per job, retries included


def test_an_interrupt_cancels_the_running_tasks(tmp_path, ray_cluster, fake_methods, token):
    slow = f"slow-{token}"
    targets = [THREE[0], Target(slow, THREE[1].structure)]
    config = RunnerConfig("rnainverse", time_limit=30, workers=2)

    written = []

    def interrupt(status):  # Ctrl-C, as the user would, once a finished while slow runs
        if written and _marker(slow).exists():
            raise KeyboardInterrupt("Ctrl-C")

    with pytest.raises(KeyboardInterrupt):
        run_benchmark("stop", targets, config, tmp_path, interrupt, written.append, backend=RAY)
    assert [row["target_id"] for row in _csv_rows(tmp_path)] == ["a"]  # whole rows only
    job_process = int(_marker(slow).read_text())
    deadline = time.monotonic() + 10
    while _alive(job_process) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(job_process)  # the task stopped its job's process


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_a_wedged_task_is_cancelled_at_its_backstop(tmp_path, ray_cluster, fake_methods, token):
    frozen = f"freeze-{token}"
    config = RunnerConfig("rnainverse", time_limit=1, grace=0.2, startup_timeout=30)
    assert ray_jobs.backstop_seconds(config) == 30 + 1 + 0.2 + 2 * runner.KILL_AFTER + 30
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ray_jobs, "backstop_seconds", lambda config: 8.0)
            (row,) = run_benchmark(
                "wedged", [Target(frozen, "((((....))))")], config, tmp_path, backend=RAY
            )
    finally:  # Ray kills the stopped worker on cancel; make sure of it
        marker = _marker(frozen)
        if marker.exists():
            pid = int(marker.read_text())
            _kill_if_ray_worker(pid)
    assert row["status"] == "timeout" and row["solved"] == 0 and row["sequence"] == ""
    assert "did not return within 8 s" in row["error"]


def _kill_if_ray_worker(pid: int) -> None:
    if _is_ray_worker(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_resume_across_backends_runs_every_job_once(tmp_path, ray_cluster, capsys):
    targets = _write_targets(tmp_path / "three.txt", THREE)
    out = tmp_path / "out"
    argv = ["benchmark", "--dataset", str(targets), "--method", "rnainverse", "--time-limit", "5"]
    argv += ["--out", str(out), "--seed", "4", "--quiet"]
    assert main([*argv, "--targets", "a,b"]) == 0  # locally
    assert main([*argv, "--backend", "ray", "--resume"]) == 0  # c only, on Ray
    assert main([*argv, "--resume"]) == 0  # back to local: nothing left
    rows = _csv_rows(out)
    assert sorted(row["target_id"] for row in rows) == ["a", "b", "c"]  # no job repeated
    backends = {row["target_id"]: row["backend"] for row in rows}
    assert backends["a"] == backends["b"] == "local" and backends["c"].startswith("ray:")
    assert all(row["solved"] == "1" and row["status"] == "finished" for row in rows)
    assert "3/3" in capsys.readouterr().out


def _cli_argv(tmp_path, *extra):
    targets = _write_targets(tmp_path / "one.txt", THREE[:1])
    return ["benchmark", "--dataset", str(targets), "--method", "rnainverse"] + [
        "--out",
        str(tmp_path / "out"),
        "--quiet",
        *extra,
    ]


def test_cli_rejects_a_bad_backend(tmp_path, capsys):
    assert main(_cli_argv(tmp_path, "--backend", "nonsense")) == 2
    assert "--backend: unknown 'nonsense'" in capsys.readouterr().err
    assert main(_cli_argv(tmp_path, "--ray-address", "127.0.0.1:6379")) == 2
    assert "--ray-address needs --backend ray" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_unreachable_cluster_exits_2_and_writes_nothing(tmp_path):
    # In a fresh process: in this one, Ray may already be initialized by another test.
    argv = _cli_argv(tmp_path, "--backend", "ray", "--ray-address", "127.0.0.1:1")
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "autorl.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert time.monotonic() - start < 60
    assert "127.0.0.1:1" in done.stderr or "needs Ray" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not (tmp_path / "out").exists()


def test_solver_path_finds_the_module_as_the_driver_imports_it():
    here = Path(__file__).resolve().parent
    assert ray_jobs.solver_path("test_benchmark_ray:misbehaving_rnainverse") == str(here)
    assert ray_jobs.solver_path("benchmarks.runner:load_rnainverse") == str(here.parent)
    assert ray_jobs.solver_path("no_such_module_anywhere:factory") is None


def test_a_task_gets_the_run_files_by_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.par").write_text("## RNAfold parameter file v2.0\n")
    config = RunnerConfig(
        "meta-learna", model="models/m.zip", energy=EnergyModel(params="mine.par")
    )
    sent = ray_jobs.node_config(config)
    assert sent.model == str(tmp_path / "models" / "m.zip")
    assert sent.energy.params == str(tmp_path / "mine.par")
    assert ray_jobs.node_config(RunnerConfig("rnainverse")) == RunnerConfig("rnainverse")

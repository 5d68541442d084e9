from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from bohb_helpers import flaky, quadratic, sleepy, small_space

from autorl.bohb import BOHBConfig, bracket_plan, budgets, run
from autorl.bohb.executor import Job, ProcessExecutor, SerialExecutor, TrialExecutor
from autorl.bohb.runlog import load_trials, read_jsonl, trajectory

TESTS = Path(__file__).resolve().parent


def planned_trials(low, high, eta, iterations):
    b = budgets(low, high, eta)
    return sum(bracket_plan(i, b, eta).num_trials for i in range(iterations))


def test_serial_run_logs_every_planned_trial(tmp_path):
    summary = run(
        quadratic,
        small_space(),
        BOHBConfig(1, 9, 3, seed=0),
        out_dir=tmp_path,
        iterations=3,
        workers=0,
    )
    records = load_trials(tmp_path)
    assert len(records) == summary.trials == planned_trials(1, 9, 3, 3)
    assert len({r["trial"] for r in records}) == len(records)
    first = records[0]
    assert set(first) >= {
        "config",
        "budget",
        "loss",
        "status",
        "seconds",
        "worker",
        "error",
        "seed",
    }
    header = json.loads((tmp_path / "run.json").read_text())
    assert header["seed"] == 0 and "numpy" in header["versions"]
    assert summary.incumbent_budget == 9
    rows = trajectory(records)
    assert rows[-1][1] == pytest.approx(summary.incumbent_loss)


def test_two_workers_complete_the_planned_trials(tmp_path):
    summary = run(
        quadratic,
        small_space(),
        BOHBConfig(1, 9, 3, seed=1),
        out_dir=tmp_path,
        iterations=4,
        workers=2,
    )
    records = load_trials(tmp_path)
    assert summary.trials == len(records) == planned_trials(1, 9, 3, 4)
    assert {r["worker"] for r in records} == {1, 2}
    assert all(r["status"] == "ok" for r in records)


def test_failed_and_nan_trials_are_logged_never_promoted(tmp_path):
    summary = run(
        flaky,
        small_space(),
        BOHBConfig(1, 9, 3, seed=2),
        out_dir=tmp_path,
        iterations=3,
        workers=1,
    )
    records = load_trials(tmp_path)
    failed = [r for r in records if r["status"] == "failed"]
    assert summary.failed == len(failed) > 0
    errors = {r["error"].split(":")[0] for r in failed}
    assert errors == {"RuntimeError", "non-finite loss nan"}
    assert all(r["loss"] is None for r in failed)
    assert any("boom at x=" in r["error"] for r in failed)
    failed_configs = {(r["bracket"], r["config_id"]) for r in failed}
    promoted = {(r["bracket"], r["config_id"]) for r in records if r["rung"] > 0}
    assert not failed_configs & promoted
    assert summary.incumbent["x"] >= 0.4
    ok = [r for r in records if r["status"] == "ok"]
    assert ok and ok[0]["info"] == {"note": "fine"}


def test_timed_out_trials_fail_and_the_worker_is_replaced():
    with ProcessExecutor(sleepy, workers=1) as executor:
        executor.submit(Job("slow", {"x": 0.1, "y": 0.5, "k": 1}, 1.0, 0, timeout=1.0))
        start = time.monotonic()
        [outcome] = executor.wait()
        assert time.monotonic() - start < 10
        assert outcome.status == "failed" and outcome.error.startswith("TimeoutError")
        assert math.isinf(outcome.loss)
        executor.submit(Job("fast", {"x": 0.5, "y": 0.5, "k": 1}, 1.0, 0, timeout=30))
        [outcome] = executor.wait()
        assert outcome.status == "ok"


def test_an_injected_executor_runs_the_trials_and_stays_the_callers(tmp_path):
    from envs.execution import ProcessExecutor as Processes
    from envs.execution import Unit

    config = BOHBConfig(1, 9, 3, seed=0)
    reference = run(
        quadratic, small_space(), config, out_dir=tmp_path / "ref", iterations=2, workers=0
    )
    with Processes(2) as executor:
        out = tmp_path / "run"
        summary = run(
            quadratic, small_space(), config, out_dir=out, iterations=2, executor=executor
        )
        executor.submit(Unit("after", abs, (-3,)))  # still open after the run
        [after] = executor.wait()
        trials = TrialExecutor(sleepy, executor, owns=False)
        trials.submit(Job("hangs", {"x": 0.1, "y": 0.5, "k": 1}, 1.0, 0))
        cancelled = trials.cancel("hangs")
    assert after.value == 3
    assert cancelled.status == "failed" and cancelled.error == "cancelled"
    records = load_trials(tmp_path / "run")
    assert summary.trials == reference.trials == len(records)
    assert all(r["status"] == "ok" for r in records) and {r["worker"] for r in records} == {1, 2}
    assert json.loads((tmp_path / "run" / "run.json").read_text())["workers"] == 2


def test_timeout_inside_a_run_does_not_stop_it(tmp_path):
    summary = run(
        sleepy,
        small_space(),
        BOHBConfig(3, 3, 3, seed=3),
        out_dir=tmp_path,
        iterations=6,
        workers=2,
        timeout=lambda budget: 1.0,
    )
    records = load_trials(tmp_path)
    timed_out = [r for r in records if r["error"] and r["error"].startswith("TimeoutError")]
    assert timed_out and len(records) == 6 and summary.trials == 6


def test_serial_executor_catches_exceptions():
    executor = SerialExecutor(flaky)
    executor.submit(Job("t", {"x": 0.1, "y": 0.5, "k": 1}, 1.0, 0))
    [outcome] = executor.wait()
    assert outcome.status == "failed" and "boom" in outcome.error and outcome.traceback


def test_new_run_refuses_an_existing_log_and_resume_checks_settings(tmp_path):
    config = BOHBConfig(1, 9, 3, seed=0)
    run(quadratic, small_space(), config, out_dir=tmp_path, iterations=1, workers=0)
    with pytest.raises(ValueError, match="--resume"):
        run(quadratic, small_space(), config, out_dir=tmp_path, iterations=1, workers=0)
    with pytest.raises(ValueError, match="bohb"):
        run(
            quadratic,
            small_space(),
            BOHBConfig(1, 9, 3, seed=5),
            out_dir=tmp_path,
            iterations=1,
            workers=0,
            resume=True,
        )
    with pytest.raises(ValueError, match="no run.json"):
        run(
            quadratic,
            small_space(),
            config,
            out_dir=tmp_path / "none",
            iterations=1,
            workers=0,
            resume=True,
        )


def test_resume_of_a_finished_run_replays_everything(tmp_path):
    config = BOHBConfig(1, 9, 3, seed=4)
    first = run(quadratic, small_space(), config, out_dir=tmp_path, iterations=2, workers=0)
    again = run(
        quadratic, small_space(), config, out_dir=tmp_path, iterations=3, workers=0, resume=True
    )
    assert again.replayed == first.trials
    assert again.trials == planned_trials(1, 9, 3, 3) == len(load_trials(tmp_path))


def test_partial_last_line_is_dropped(tmp_path):
    path = tmp_path / "trials.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a"', encoding="utf-8")
    records, partial = read_jsonl(path, repair=True)
    assert records == [{"a": 1}, {"a": 2}] and partial
    assert path.read_text(encoding="utf-8") == '{"a": 1}\n{"a": 2}\n'


SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from bohb_helpers import recording, small_space
    from autorl.bohb import BOHBConfig, run

    run(recording, small_space(), BOHBConfig(1, 9, 3, seed=7), out_dir={out!r},
        iterations=4, workers=2, resume={resume})
    """
)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie awaiting its reaper counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and SIGKILL")
def test_resume_after_sigkill_loses_and_repeats_no_finished_trial(tmp_path):
    out, calls = tmp_path / "run", tmp_path / "calls.txt"
    env = {**os.environ, "BOHB_CALLS": str(calls)}
    script = SCRIPT.format(tests=str(TESTS), out=str(out), resume=False)
    process = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(load_trials(out)) >= 15 if (out / "trials.jsonl").exists() else False:
            break
        time.sleep(0.02)
    workers = _children(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = load_trials(out)
    assert 15 <= len(before) < planned_trials(1, 9, 3, 4), "the run finished before the kill"
    time.sleep(0.5)
    assert workers and not [pid for pid in workers if _alive(pid)], "orphaned processes"

    script = SCRIPT.format(tests=str(TESTS), out=str(out), resume=True)
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    after = load_trials(out)
    assert after[: len(before)] == before  # nothing lost or rewritten
    ids = [r["trial"] for r in after]
    assert len(ids) == len(set(ids)) == planned_trials(1, 9, 3, 4)  # none repeated, all done
    lines = calls.read_text().splitlines()
    assert len(lines) <= len(ids) + 2  # at most the two running trials were run again
    counts = Counter(lines)
    for record in before:  # every trial finished before the kill was evaluated exactly once
        assert counts[f"{record['seed']} {record['budget']:g}"] == 1


DETERMINISM_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from bohb_helpers import recording, small_space
    from autorl.bohb import BOHBConfig, run

    run(recording, small_space(), BOHBConfig(1, 9, 3, seed=11), out_dir={out!r},
        iterations=4, workers={workers}, resume={resume})
    """
)


def _signature(out: Path) -> tuple[set, dict]:
    records = load_trials(out)
    trials = {
        (r["trial"], json.dumps(r["config"], sort_keys=True), r["loss"], r["seed"]) for r in records
    }
    inc = min(
        (r for r in records if r["budget"] == max(x["budget"] for x in records)),
        key=lambda r: r["loss"],
    )
    return trials, inc["config"]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="uses SIGKILL")
@pytest.mark.parametrize("workers", [0, 1])
def test_killed_and_resumed_run_equals_an_uninterrupted_one(tmp_path, workers):
    env = {**os.environ, "BOHB_CALLS": str(tmp_path / "calls.txt")}
    whole, cut = tmp_path / "whole", tmp_path / "cut"

    def script(out: Path, resume: bool) -> str:
        return DETERMINISM_SCRIPT.format(
            tests=str(TESTS), out=str(out), workers=workers, resume=resume
        )

    subprocess.run([sys.executable, "-c", script(whole, False)], env=env, check=True, timeout=120)
    process = subprocess.Popen([sys.executable, "-c", script(cut, False)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (cut / "trials.jsonl").exists() and len(load_trials(cut)) >= 18:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = len(load_trials(cut))
    assert 18 <= killed_at < planned_trials(1, 9, 3, 4), "the run finished before the kill"
    subprocess.run([sys.executable, "-c", script(cut, True)], env=env, check=True, timeout=120)
    # The model proposed configurations after the kill point too: same trials, same losses,
    # same seeds, same incumbent as the run that was never interrupted.
    proposals = [json.loads(line) for line in (cut / "proposals.jsonl").read_text().splitlines()]
    assert any(p["model_based"] for p in proposals[killed_at // 2 :])
    assert _signature(cut) == _signature(whole)


def test_max_total_budget_caps_what_a_run_starts(tmp_path):
    config = BOHBConfig(1, 9, 3, seed=0)
    summary = run(
        quadratic,
        small_space(),
        config,
        out_dir=tmp_path,
        iterations=8,
        method="random",
        workers=0,
        max_total_budget=50,
    )
    # Random search plans 3 configurations on budget 9 per iteration (216 in 8); the cap
    # stops it at the first trial that reaches 50.
    assert 50 <= summary.budget_used < 50 + 9
    header = json.loads((tmp_path / "run.json").read_text())
    assert header["max_total_budget"] == 50
    with pytest.raises(ValueError, match="max_total_budget"):
        run(
            quadratic,
            small_space(),
            config,
            out_dir=tmp_path / "x",
            iterations=1,
            workers=0,
            max_total_budget=0,
        )


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_time_limit_stops_the_run_and_resume_finishes_it(tmp_path, workers):
    from bohb_helpers import slow, slowest

    config = BOHBConfig(1, 9, 3, seed=4)
    planned = run(
        quadratic, small_space(), config, out_dir=tmp_path / "full", iterations=2, workers=0
    ).trials
    args = dict(out_dir=tmp_path / "run", iterations=2, workers=workers)
    start = time.perf_counter()
    # 10 s: room for spawning the workers on a busy machine (4 s once proved too little:
    # no trial had finished) and for two 2-s trials after it; 2 iterations of 2-s trials
    # still outlast it on 2 workers.
    limit = 10.0
    summary = run(slowest, small_space(), config, time_limit=limit, **args)
    assert time.perf_counter() - start < limit + 10  # a worker's start-up, a trial's end
    assert summary.stopped == "time limit"
    logged = load_trials(tmp_path / "run")
    assert 0 < len(logged) < planned
    assert all(r["status"] == "ok" for r in logged)  # a trial cut at the limit is not logged
    assert all(r["finished"] <= limit + 1.0 for r in logged)
    resumed = run(slowest, small_space(), config, resume=True, **args)
    assert resumed.stopped is None and resumed.trials == planned
    final = load_trials(tmp_path / "run")
    assert len({r["trial"] for r in final}) == planned and final[: len(logged)] == logged
    with pytest.raises(ValueError, match="--time-limit must be > 0"):
        run(slow, small_space(), config, out_dir=tmp_path / "x", iterations=1, time_limit=0)


def test_a_time_limit_that_is_not_reached_changes_nothing(tmp_path):
    config = BOHBConfig(1, 9, 3, seed=4)
    summary = run(
        quadratic, small_space(), config, out_dir=tmp_path, iterations=1, workers=0, time_limit=60
    )
    assert summary.stopped is None and summary.trials == len(load_trials(tmp_path))

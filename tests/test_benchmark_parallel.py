"""``autorl benchmark-parallel``: the measurement and its files (the figures are the README's)."""

from __future__ import annotations

import json
import time

import pytest

from autorl.cli import main
from autorl.commands.benchmark_parallel import (
    BusyObjective,
    Measurement,
    _cycle_overhead,
    _with_ratios,
)


def test_busy_objective_burns_cpu_time_then_answers():
    objective = BusyObjective(lambda config, budget, seed: budget + seed, 0.05)
    start = time.thread_time()
    assert objective({}, 2.0, 1) == 3.0
    assert time.thread_time() - start >= 0.05


def test_efficiency_and_overhead_are_relative_to_the_one_worker_run():
    rows = _with_ratios(
        [
            Measurement("local", 1, 10.0, 8, 1.2, cycle_overhead_ms=50.0),
            Measurement("local", 2, 6.25, 8, 1.2),
        ]
    )
    assert rows[0].efficiency == 1.0 and rows[0].overhead_ms == 50.0
    assert rows[1].efficiency == pytest.approx(0.8) and rows[1].overhead_ms is None


def test_the_overhead_is_the_median_gap_between_trials_beyond_their_own_time():
    records = [
        {"started": 0.0, "seconds": 1.0},
        {"started": 1.1, "seconds": 1.0},  # 100 ms after the first ended
        {"started": 2.15, "seconds": 1.0},  # 50 ms
        {"started": 5.0, "seconds": 1.0},  # a 1.85 s stall: not the median
    ]
    assert _cycle_overhead(records) == pytest.approx(100.0)


@pytest.mark.slow
def test_a_small_local_measurement_writes_its_results(tmp_path, capsys):
    out = tmp_path / "parallel"
    args = ["benchmark-parallel", "--backends", "local", "--workers", "2", "--iterations", "1"]
    code = main([*args, "--trial-seconds", "0.05", "--max-budget", "81", "--out", str(out)])
    assert code in (0, 1)  # the goal is judged on the real settings, not these
    results = json.loads((out / "results.json").read_text())
    rows = results["measurements"]
    assert [(r["backend"], r["workers"]) for r in rows] == [("local", 1), ("local", 2)]
    assert rows[0]["trials"] == rows[1]["trials"] > 0
    assert all(r["trial_seconds"] >= 0.05 for r in rows)
    assert rows[0]["round_trip_ms"] > 0 and rows[1]["round_trip_ms"] is None
    assert results["versions"]["ray"]
    printed = capsys.readouterr().out
    assert "| local | 2 |" in printed and "goal: efficiency >= 0.85" in printed
    assert (out / "table.md").read_text() in printed


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--backends", "local,spark"], "--backends: unknown 'spark'"),
        (["--workers", "0,2"], "every count must be >= 1"),
        (["--workers", "two"], "expected numbers like 1,2"),
        (["--task", "rna-learna"], "expected a synthetic task"),
        (["--trial-seconds", "0"], "--trial-seconds must be > 0"),
        (["--backends", "local", "--ray-address", "auto"], "--ray-address needs ray"),
    ],
)
def test_bad_input_exits_2(tmp_path, capsys, extra, message):
    assert main(["benchmark-parallel", *extra, "--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()

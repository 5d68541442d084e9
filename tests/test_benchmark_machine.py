from __future__ import annotations

import json

from benchmarks import machine
from benchmarks.machine import (
    MACHINE_FILE,
    calibrate,
    describe,
    read_calibrations,
    record_calibration,
)
from benchmarks.report import report
from benchmarks.runner import RunnerConfig, run_benchmark
from envs.dot_bracket import Target

HAIRPIN = Target("a", "((((((....))))))")


def test_a_calibration_measures_folds_and_describes_the_machine():
    entry = calibrate("before")
    assert entry["phase"] == "before" and entry["backend"] == "local"
    assert entry["folds_per_second"] > 0
    assert entry["cpus"] >= 1 and entry["time"].endswith("+00:00")
    assert entry["load_1min"] is None or entry["load_1min"] >= 0
    line = describe(entry)
    assert "before the jobs" in line and "folds/s at 100 nt" in line
    assert f"on {entry['cpus']} CPUs" in line


def test_the_rate_is_the_folds_over_the_time_they_took(monkeypatch):
    clock = iter([10.0, 10.5])  # the timed folds take half a second
    monkeypatch.setattr(machine.time, "perf_counter", lambda: next(clock))
    folded = []
    monkeypatch.setattr(machine, "mfe_structure", folded.append)
    entry = calibrate("after", "ray")
    assert entry["folds_per_second"] == machine.CALIBRATION_FOLDS / 0.5
    assert entry["phase"] == "after" and entry["backend"] == "ray"
    assert len(folded) == machine.CALIBRATION_FOLDS + 1  # one untimed warm-up fold
    assert all(len(s) == machine.CALIBRATION_LENGTH and set(s) <= set("ACGU") for s in folded)
    again = []
    monkeypatch.setattr(machine, "mfe_structure", again.append)
    monkeypatch.setattr(machine.time, "perf_counter", iter([0.0, 1.0]).__next__)
    calibrate("before")
    assert again == folded  # the same sequences every time: only the machine varies


def test_calibrations_append_and_a_torn_line_is_skipped(tmp_path):
    assert read_calibrations(tmp_path) == []
    first = record_calibration(tmp_path, "before")
    with open(tmp_path / MACHINE_FILE, "a") as handle:
        handle.write('{"phase": "after", "folds_per\n')  # a run killed while writing
    second = record_calibration(tmp_path, "after")
    assert len((tmp_path / MACHINE_FILE).read_text().splitlines()) == 3
    assert read_calibrations(tmp_path) == [first, second]


def test_a_benchmark_records_the_machine_before_and_after_its_jobs(tmp_path):
    config = RunnerConfig("rnainverse", time_limit=5, seed=1)
    assert len(run_benchmark("one", [HAIRPIN], config, tmp_path)) == 1
    entries = read_calibrations(tmp_path)
    assert [e["phase"] for e in entries] == ["before", "after"]
    assert all(e["folds_per_second"] > 0 and e["backend"] == "local" for e in entries)
    text = report(tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["machine"] == entries
    assert "Machine (the budgets are wall-clock time):" in text
    assert text.count("folds/s at 100 nt") == 2
    # A resume with nothing left to run measures nothing.
    resumed = RunnerConfig("rnainverse", time_limit=5, seed=1, resume=True)
    assert run_benchmark("one", [HAIRPIN], resumed, tmp_path) == []
    assert len(read_calibrations(tmp_path)) == 2


def test_a_report_without_calibrations_has_no_machine_section(tmp_path):
    config = RunnerConfig("rnainverse", time_limit=5, seed=1)
    run_benchmark("one", [HAIRPIN], config, tmp_path)
    (tmp_path / MACHINE_FILE).unlink()  # a results directory of an earlier version
    text = report(tmp_path)
    assert "Machine" not in text
    assert json.loads((tmp_path / "summary.json").read_text())["machine"] == []

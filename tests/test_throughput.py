import json
from types import SimpleNamespace

import numpy as np
import pytest
from cpu_helpers import burn

from benchmarks import throughput
from envs.execution import SerialExecutor, Unit, run_all
from envs.folding import mfe_structure


def test_targets_are_designable_and_seeded():
    a = throughput.design_targets(40, 2, np.random.default_rng(3))
    b = throughput.design_targets(40, 2, np.random.default_rng(3))
    assert a == b
    for target in a:
        assert len(target) == 40 and "(" in target.structure


def test_benchmark_targets_are_the_ones_main_designs_after_the_fold_rate():
    rng = np.random.default_rng(5)
    throughput.fold_rate(30, 0.0, rng)  # main measures the fold rate first, from the same rng
    expected = throughput.design_targets(30, 2, rng)
    assert throughput.benchmark_targets(30, 2, 5) == expected
    assert expected != throughput.design_targets(30, 2, np.random.default_rng(5))


def test_fold_rate_counts_folds():
    assert throughput.fold_rate(30, 0.2, np.random.default_rng(0)) > 10
    sequence = throughput.random_sequences(30, 1, np.random.default_rng(0))[0]
    assert set(sequence) <= set("ACGU") and len(mfe_structure(sequence)) == 30


def test_main_prints_both_rates_and_their_ratio(capsys):
    args = ["--length", "20", "--seconds", "2", "--workers", "1", "--repeats", "1", "--json"]
    assert throughput.main(args) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["folds_per_s"] > 0 and figures["episodes_per_s"] > 0
    assert figures["cores"] == 1 and figures["repeats"] == 1
    assert figures["pipeline"] is False  # one worker folds in the loop's process: no pipeline
    # One run between two fold measurements: folds_per_s is their mean.
    assert len(figures["fold_rates"]) == 2 and figures["ratios"] == [figures["ratio"]]
    assert figures["ratio"] == round(figures["episodes_per_s"] / figures["folds_per_s"], 3)
    assert figures["ratio_per_process"] == figures["ratio"]
    assert figures["fold_share"] >= figures["ratio"] - 0.001
    assert figures["folds_per_episode"] >= 1
    # One worker: the loop folds in its own process; that CPU counts as folding.
    assert figures["learning_cpu_ms"] > 0 and figures["worker_cpu_ms"] > 0
    assert figures["cpu_ms"] == pytest.approx(
        figures["learning_cpu_ms"] + figures["worker_cpu_ms"], abs=0.002
    )
    expected = 1 / (figures["cpu_ms"] / 1000 * figures["folds_per_s"])
    # The ceiling is printed to 3 decimals; on 20-nt targets it is ~0.02, where that
    # rounding alone is up to 2.5 %.
    assert figures["ceiling"] == pytest.approx(expected, rel=0.02, abs=0.0005)
    # ratio and ceiling are printed to 3 decimals: on 20-nt targets (ratio ~0.04) that
    # rounding alone moves their quotient by a few per cent.
    rounding = 0.0005 * (1 + figures["packing"]) / figures["ceiling"]
    assert figures["packing"] == pytest.approx(
        figures["ratio"] / figures["ceiling"], rel=0.02, abs=rounding
    )
    # One core: the parallel rate is the single process's.
    assert figures["parallel_folds_per_s"] == figures["folds_per_s"]
    assert figures["parallel_share"] == 1.0


def test_a_one_worker_loop_counts_its_own_folds_as_folding_not_learning(monkeypatch):
    """With one worker the loop folds in its own process. Its folds used to be priced at the
    fold rate's random sequences (about twice a design's fold), so the learning CPU read
    low, often 0 (session 66): the serial executor's own CPU count tells them apart."""

    def fake_design(target, **kwargs):
        assert kwargs["workers"] == 1
        (done,) = run_all(SerialExecutor(), [Unit("folds", burn, (0.3,))])  # the folds
        done.result()
        burn(0.1)  # the policy's steps and updates
        return SimpleNamespace(episodes=10, folds=10, settings={"pipelined": False})

    monkeypatch.setattr(throughput, "warm_up", lambda: None)
    monkeypatch.setattr(throughput, "design", fake_design)
    targets = throughput.design_targets(20, 1, np.random.default_rng(0))
    _, episodes, folds, learning, folding, pipelined = throughput.episode_rate(
        targets, throughput.LEARNA, 1.0, 1, 0
    )
    assert (episodes, folds) == (10, 10)
    assert 0.1 <= learning < 0.2 and 0.3 <= folding < 0.4
    assert pipelined is False  # as the design loop recorded it


def test_each_run_of_the_loop_is_divided_by_the_fold_rates_measured_beside_it(capsys, monkeypatch):
    """The machine's speed drifts, so one fold rate measured before the loop misleads."""
    rates = iter([100.0, 200.0, 100.0, 300.0])  # measured before, between and after
    folded = []

    def drifting(length, seconds, rng):
        folded.append(throughput._fold_rate_sequences(length, rng))
        return next(rates)

    monkeypatch.setattr(throughput, "fold_rate", drifting)
    run = throughput.LoopRun(300.0, 600, 600, 0.6, 0.0, True)
    monkeypatch.setattr(throughput, "episode_rate", lambda *args: run)
    args = ["--length", "20", "--seconds", "2", "--workers", "1", "--repeats", "3", "--json"]
    assert throughput.main(args) == 0
    figures = json.loads(capsys.readouterr().out)
    # 300 episodes/s over the mean of the rates beside each run: 150, 150 and 200 folds/s.
    assert figures["ratios"] == [2.0, 2.0, 1.5]
    assert figures["ratio"] == 2.0  # their median (the first rate alone would give 3.0)
    assert figures["fold_rates"] == [100.0, 200.0, 100.0, 300.0]
    assert figures["folds_per_s"] == 175.0 and figures["fold_rate_spread"] == round(200 / 175, 3)
    assert figures["episodes"] == 1800 and figures["episodes_per_s"] == 300.0
    # Every measurement folds the same sequences.
    assert all(sequences == folded[0] for sequences in folded)


def test_the_ceiling_counts_the_cpu_of_the_loop_and_its_folding_processes(capsys, monkeypatch):
    """Priced at the fold rate's random sequences, the folds of the loop's designs (about 3
    times as fast) made a ceiling below the ratio (session 64): the CPU spent is the cost."""
    monkeypatch.setattr(throughput.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(throughput, "fold_rate", lambda *args: 200.0)
    monkeypatch.setattr(throughput, "parallel_fold_rate", lambda *args: 360.0)
    # Two folding processes: 600 episodes of one fold each, 3 s of the loop's own CPU and
    # 0.9 s of the folding processes' (1.5 ms a fold, where a random one takes 5 ms).
    run = throughput.LoopRun(300.0, 600, 600, 3.0, 0.9, True)
    monkeypatch.setattr(throughput, "episode_rate", lambda *args: run)
    args = ["--length", "20", "--seconds", "5", "--workers", "2", "--repeats", "2", "--json"]
    assert throughput.main(args) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["cores"] == 2 and figures["ratio"] == 0.75  # 300 / (200 x 2)
    assert figures["learning_cpu_ms"] == 5.0 and figures["worker_cpu_ms"] == 1.5
    assert figures["cpu_ms"] == 6.5
    # 200 random folds/s: 6.5 ms of CPU an episode caps the ratio at 1 / (200 x 0.0065).
    assert figures["ceiling"] == round(1 / 1.3, 3)
    assert figures["packing"] == round(0.75 * 1.3, 3)  # the share of the cores kept busy
    assert figures["parallel_share"] == 0.9  # 360 of 2 x 200


def test_main_refuses_no_repeats(capsys):
    with pytest.raises(SystemExit) as exit_info:
        throughput.main(["--length", "20", "--repeats", "0"])
    assert exit_info.value.code == 2
    assert "--repeats must be >= 1, got 0" in capsys.readouterr().err


def test_parallel_fold_rate_sums_processes_folding_at_once(monkeypatch):
    calls = []

    def fake(length, start_at, seconds, seed):
        calls.append((length, seconds, seed))
        return 30 + seed, 0.5

    class InlinePool:
        def __init__(self, processes):
            self.processes = processes

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def map(self, fn, values):
            return [fn(v) for v in values]

        def submit(self, fn, *args):
            from concurrent.futures import Future

            future = Future()
            future.set_result(fn(*args))
            return future

    monkeypatch.setattr(throughput, "_fold_until", fake)
    monkeypatch.setattr(throughput, "ProcessPoolExecutor", InlinePool)
    # Two processes, seeds 7 and 8: (37 + 38) folds per 0.5 s each.
    assert throughput.parallel_fold_rate(40, 0.5, 2, 7) == pytest.approx(150.0)
    assert calls == [(40, 0.5, 7), (40, 0.5, 8)]


def test_parallel_fold_rate_really_folds_in_processes():
    rate = throughput.parallel_fold_rate(30, 0.3, 2, 0)
    assert rate > 10
    count, seconds = throughput._fold_until(30, 0.0, 0.2, 0)
    assert count > 0 and seconds >= 0.2


def test_main_measures_the_loop_under_constraints(capsys, monkeypatch):
    seen = []
    real = throughput.design

    def spy(target, **kwargs):
        seen.append((target.constraint, kwargs["constraints"]))
        return real(target, **kwargs)

    monkeypatch.setattr(throughput, "design", spy)
    args = ["--length", "30", "--seconds", "2", "--workers", "1", "--repeats", "1", "--json"]
    assert throughput.main([*args, "--constraint-fraction", "0.5", "--gc", "0.3:0.7"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["episodes_per_s"] > 0 and figures["constraint_fraction"] == 0.5
    [(code, rules)] = seen
    assert code is not None and any(c != "N" for c in code) and rules.gc == (0.3, 0.7)


def test_spawned_processes_import_the_benchmark_without_torch():
    """Every process multiprocessing spawns imports ``__main__`` (this module, run with
    ``-m``) again: the loop's folding processes must not pay torch's import there."""
    import subprocess
    import sys

    code = (
        "import sys, benchmarks.throughput; "
        "print(sorted(m for m in ('torch', 'stable_baselines3') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""``autorl benchmark compare``: two results directories, job by job, and the McNemar test."""

from __future__ import annotations

import json

import pytest
from result_rows import DOUBLE, HAIRPIN, STEM6, result_row
from scipy.stats import binom

from autorl.cli import main
from benchmarks.comparison import compare_runs, compare_speed, exact_mcnemar, format_comparison
from benchmarks.results import append_result


def _write(directory, rows):
    directory.mkdir()
    for row in rows:
        append_result(directory / "results.csv", row)
    return directory


@pytest.fixture
def pair(tmp_path):
    """A solves 1-3 (a forged 4 is rejected), B solves 1 and 4; 5 is only A's job."""
    first = _write(
        tmp_path / "a",
        [
            result_row("1", HAIRPIN, "meta-learna-adapt", 0, seconds=2.0, limit=60),
            result_row("2", DOUBLE, "meta-learna-adapt", 0, seconds=30.0, limit=60),
            result_row("3", STEM6, "meta-learna-adapt", 0, seconds=5.0, limit=60),
            # marked solved, but the sequence folds into nothing like the target
            result_row(
                "4", STEM6, "meta-learna-adapt", 0, seconds=1.0, sequence="A" * 16, limit=60
            ),
            result_row("5", HAIRPIN, "meta-learna-adapt", 0, seconds=1.0, limit=60),
        ],
    )
    second = _write(
        tmp_path / "b",
        [
            result_row("1", HAIRPIN, "learna", 0, seconds=50.0, limit=60),
            result_row("2", DOUBLE, "learna", 0, limit=60),
            result_row("3", STEM6, "learna", 0, limit=60),
            result_row("4", STEM6, "learna", 0, seconds=3.0, limit=60),
        ],
    )
    return first, second


def test_the_shared_jobs_are_paired_and_verified(pair):
    comparison = compare_runs(*pair)
    first, second = comparison.first, comparison.second
    assert comparison.dataset == "rfam-taneda" and comparison.shared == 4  # 5 is A's alone
    assert (first.method, second.method) == ("meta-learna-adapt", "learna")
    assert (first.jobs, second.jobs) == (5, 4)
    assert (first.solved, second.solved) == (3, 2)  # A's forged 4 does not count
    assert first.rejected == 1 and second.rejected == 0
    assert (first.solved_early, second.solved_early) == (2, 1)  # within 10 s: 1, 3 and 4
    assert first.only == ["2", "3"] and second.only == ["4"]
    assert comparison.p_value == pytest.approx(1.0) and not comparison.significant


def test_the_speed_on_the_jobs_both_solved(pair):
    speed = compare_runs(*pair).speed  # job 1: A in 2 s, B in 50 s
    assert (speed.both, speed.sooner_first, speed.sooner_second) == (1, 1, 0)
    assert speed.median_ratio == pytest.approx(2 / 50) and speed.p_value == pytest.approx(1.0)
    # Ten jobs, A always sooner by distinct factors: the exact test, 2 / 2**10.
    pairs = [(10.0 * (0.5 - 0.01 * k), 10.0) for k in range(10)]
    faster = compare_speed(pairs)
    assert (faster.both, faster.sooner_first, faster.sooner_second) == (10, 10, 0)
    assert faster.median_ratio == pytest.approx((0.46 * 0.45) ** 0.5)  # the middle two
    assert faster.p_value == pytest.approx(2 / 2**10)
    # Equal times, and times below a millisecond, are ties: nobody is sooner.
    ties = compare_speed([(3.0, 3.0), (0.0, 0.0005)])
    assert (ties.sooner_first, ties.sooner_second, ties.p_value) == (0, 0, 1.0)
    assert ties.median_ratio == pytest.approx(1.0)
    none = compare_speed([])
    assert none.both == 0 and none.median_ratio is None and none.p_value == 1.0


def test_the_machines_fold_rates_are_shown(pair, capsys):
    calibration = {"folds_per_second": 120.5, "phase": "before", "time": "t"}
    (pair[0] / "machine.jsonl").write_text(
        json.dumps(calibration) + "\n" + json.dumps({**calibration, "folds_per_second": 99}) + "\n"
    )
    comparison = compare_runs(*pair)
    assert comparison.first.folds_per_second == [120.5, 99.0]
    assert comparison.second.folds_per_second == []
    text = format_comparison(comparison)
    assert "machine folds/s: 120.5/99" in text and "machine folds/s: not recorded" in text
    assert "on the 1 jobs both solved: A sooner in 1, B sooner in 0" in text


def test_the_exact_mcnemar_test():
    assert exact_mcnemar(0, 0) == 1.0
    assert exact_mcnemar(5, 0) == pytest.approx(2 / 32)
    assert exact_mcnemar(0, 6) == pytest.approx(2 / 64)
    assert exact_mcnemar(5, 1) == exact_mcnemar(1, 5) == pytest.approx(14 / 64)
    assert exact_mcnemar(9, 3) == pytest.approx(2 * binom.cdf(3, 12, 0.5))


def test_a_lopsided_split_is_significant_and_runs_are_labelled(tmp_path):
    """Seven jobs only A solved, over two runs: p = 2/128, and each job names its run."""
    a_rows, b_rows = [], []
    for run in (0, 1):
        for target in ("1", "2", "3", "4"):
            solved = None if (run, target) == (1, "4") else 1.0
            a_rows.append(result_row(target, HAIRPIN, "learna", run, seconds=solved, limit=5))
            b_rows.append(result_row(target, HAIRPIN, "learna", run, limit=5))
    comparison = compare_runs(_write(tmp_path / "a", a_rows), _write(tmp_path / "b", b_rows))
    assert comparison.shared == 8 and comparison.first.solved == 7
    assert comparison.first.only == ["1/0", "1/1", "2/0", "2/1", "3/0", "3/1", "4/0"]
    assert comparison.first.solved_early is None  # a 5-s limit has no 10-s count
    assert comparison.p_value == pytest.approx(2 / 128) and comparison.significant
    assert "p = 0.0156, significant at the 0.05 level" in format_comparison(comparison)


def test_the_cli_prints_text_and_json(pair, capsys):
    assert main(["benchmark", "compare", str(pair[0]), str(pair[1])]) == 0
    text = capsys.readouterr().out
    assert "rfam-taneda: 4 jobs (target, run) in both" in text
    assert "solved 3/4, 2 within 10 s, 1 marked solved but rejected; only A solved: 2, 3" in text
    assert "only B solved: 4" in text
    assert "(2 against 1): p = 1, not significant at the 0.05 level" in text
    assert main(["benchmark", "compare", str(pair[0]), str(pair[1]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == json.loads(json.dumps(compare_runs(*pair).to_dict()))


def test_runs_that_do_not_compare_are_refused(tmp_path, pair, capsys):
    other = _write(
        tmp_path / "other",
        [result_row("1", HAIRPIN, "learna", 0, seconds=1.0, dataset="eterna100-v2")],
    )
    with pytest.raises(ValueError, match="ran rfam-taneda .* ran eterna100-v2"):
        compare_runs(pair[0], other)
    disjoint = _write(tmp_path / "disjoint", [result_row("9", HAIRPIN, "learna", 0)])
    with pytest.raises(ValueError, match="no \\(target, run\\) job in common"):
        compare_runs(pair[0], disjoint)
    mixed = _write(
        tmp_path / "mixed",
        [result_row("1", HAIRPIN, "learna", 0), result_row("1", HAIRPIN, "rnainverse", 0)],
    )
    with pytest.raises(ValueError, match="2 \\(dataset, method\\) groups"):
        compare_runs(mixed, pair[1])
    (tmp_path / "empty").mkdir()
    assert main(["benchmark", "compare", str(tmp_path / "empty"), str(pair[1])]) == 2
    assert "no results.csv" in capsys.readouterr().err

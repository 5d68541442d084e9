"""Judging logged optimizer runs (benchmarks/optimizers.py), the external searchers behind
``autorl optimize --optimizer NAME`` and ``autorl benchmark-optimizers`` end to end.

Every run here goes through ``autorl.cli.main`` with ``--workers 0`` (trials in-process: the
process executor is covered by tests/test_cli_optimize.py; here it would only add a process
start per run).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from collections import defaultdict

import pytest

from autorl.bohb.external import available
from autorl.bohb.hyperband import budgets, planned_budget
from autorl.bohb.runlog import load_trials
from autorl.cli import main
from benchmarks import synthetic
from benchmarks.optimizers import (
    ANYTIME,
    CURVE,
    Goals,
    RunRecord,
    check_goals,
    format_table,
    observations,
    plot_curves,
    record_run,
    regret_curve,
    summarize,
)
from benchmarks.synthetic import counting_ones, counting_ones_problem

PROBLEM = counting_ones_problem(2, 2)
BEST = {"c0": 1, "c1": 1, "x0": 1.0, "x1": 1.0}  # regret 0
WORST = {"c0": 0, "c1": 0, "x0": 0.0, "x1": 0.0}  # regret 4
MAX_BUDGET = 729.0
#: What one Hyperband iteration on counting ones (9 ... 729, eta 3) plans to spend.
PLANNED = planned_budget(1, budgets(9, 729, 3), 3)
OWN = ("random", "hyperband", "bohb")
EXTERNAL = ("optuna", "smac", "hpbandster")
P1, P2, P3 = "counting-ones-2+2", "mf-hartmann-3", "counting-ones-9+9"


def _reference_problem() -> str | None:
    """Why the hpbandster bridge cannot be used right now (None: it can)."""
    if not available("hpbandster"):
        return "hpbandster is not installed"
    try:
        from autorl.bohb.reference import HpBandSterBOHB  # noqa: F401
    except Exception as error:  # noqa: BLE001 - the bridge is being written concurrently
        return f"autorl/bohb/reference.py is missing or broken: {type(error).__name__}: {error}"
    return None


def _external(name: str):
    if name == "hpbandster":
        reason = _reference_problem()
        marks = [
            pytest.mark.skipif(reason is not None, reason=reason or ""),
            pytest.mark.filterwarnings("ignore::DeprecationWarning"),
            pytest.mark.filterwarnings("ignore::FutureWarning"),
            pytest.mark.filterwarnings("ignore::RuntimeWarning"),
        ]
    else:
        marks = [pytest.mark.skipif(not available(name), reason=f"{name} is not installed")]
    return pytest.param(name, marks=marks, id=name)


def _key(config: dict) -> str:
    return json.dumps(config, sort_keys=True)


def _optimize_argv(name: str, out) -> list[str]:
    return [
        "optimize",
        "--task",
        "counting-ones",
        "--dims",
        "2",
        "--optimizer",
        name,
        "--iterations",
        "1",
        "--workers",
        "0",
        "--out",
        str(out),
        "--quiet",
    ]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """``uninterrupted(name)`` -> (exit code, run dir) of one 1-iteration run, run once."""
    cache: dict[str, tuple[int, object]] = {}

    def get(name: str):
        if name not in cache:
            out = tmp_path_factory.mktemp(f"run-{name}") / "run"
            cache[name] = (main(_optimize_argv(name, out)), out)
        return cache[name]

    return get


# 1. observations() ----------------------------------------------------------------------


def test_observations_with_timestamps():
    records = [
        {"budget": 9, "config": {"x": 0.5, "c": 1}, "loss": -1.0, "started": 0.5, "finished": 1.0},
        {"budget": 27, "config": {"c": 1, "x": 0.5}, "loss": -2, "started": 1.25, "finished": 2.0},
        {"budget": 9, "config": {"c": 0, "x": 0.5}, "loss": None, "started": 3.0, "finished": 3.5},
    ]
    for given in (records, [records[2], records[0], records[1]]):  # ordered by "started"
        obs = observations(given)
        assert [o.used for o in obs] == [9.0, 36.0, 45.0]
        assert [o.budget for o in obs] == [9.0, 27.0, 9.0]
        assert [o.overhead for o in obs] == [0.5, 0.25, 1.0]  # started - previous finished
        assert [o.new_config for o in obs] == [True, False, True]  # key order is irrelevant
        assert [o.loss for o in obs] == [-1.0, -2.0, math.inf]  # a failed trial: inf
        assert obs[2].config == {"c": 0, "x": 0.5}
    obs[0].config["x"] = 9.0  # a copy, not the record's dict
    assert records[0]["config"]["x"] == 0.5


def test_observations_without_timestamps_keep_the_log_order():
    records = [
        {"budget": 729, "config": WORST, "loss": 0.0},
        {"budget": 9, "config": BEST, "loss": -4.0},
        {"budget": 27, "config": dict(reversed(BEST.items())), "loss": None},
    ]
    obs = observations(records)
    assert [o.used for o in obs] == [729.0, 738.0, 765.0]
    assert [o.overhead for o in obs] == [0.0, 0.0, 0.0]
    assert [o.new_config for o in obs] == [True, True, False]
    assert [o.loss for o in obs] == [0.0, -4.0, math.inf]
    assert observations([]) == []


# 2. regret_curve() / record_run() ----------------------------------------------------------

SEQUENCE = [
    {"budget": 9, "config": BEST, "loss": -4.0},  # the best config on a small budget
    {"budget": 729, "config": WORST, "loss": 0.0},  # the worst on the largest: incumbent
    {"budget": 729, "config": BEST, "loss": -4.0},  # the best on the largest
]


def test_regret_curve_incumbent_is_the_lowest_loss_on_the_largest_budget():
    obs = observations(SEQUENCE)  # used: 9, 738, 1467
    total = 10 * MAX_BUDGET  # 7290
    fractions = (0.001, 0.1, 0.2, 0.5, 1.0)  # 7.29 | 729 | 1458 | never | never
    assert regret_curve(PROBLEM, obs, total, fractions) == [0.0, 4.0, 0.0, 0.0, 0.0]
    # A run that stops with the worst incumbent: unreached fractions get the final regret.
    assert regret_curve(PROBLEM, obs[:2], total, fractions) == [0.0, 4.0, 4.0, 4.0, 4.0]
    # Failed evaluations never become the incumbent; before any success the regret is NaN.
    failed = observations([{"budget": 729, "config": BEST, "loss": None}, *SEQUENCE[1:2]])
    first, second = regret_curve(PROBLEM, failed, 729 + 729, (0.5, 1.0))
    assert math.isnan(first) and second == 4.0
    assert all(math.isnan(r) for r in regret_curve(PROBLEM, failed[:1], 1e6, (0.5, 1.0)))


def _expected(fraction: float, total: float) -> float:
    """SEQUENCE's incumbent regret when ``fraction`` of ``total`` is first reached."""
    mark = fraction * total
    if mark <= 9:
        return 0.0  # only BEST on 9 so far
    if mark <= 738:
        return 4.0  # WORST on 729 took over
    return 0.0  # BEST on 729 (reached at 1467, or the final incumbent)


def test_record_run_judges_a_logged_run():
    total = 1467.0  # exactly what SEQUENCE spends
    run = record_run(PROBLEM, "mine", 3, SEQUENCE, total, seconds=1.5)
    assert isinstance(run, RunRecord)
    assert (run.problem, run.optimizer, run.seed, run.error) == (P1, "mine", 3, None)
    # 10 % (146.7) and 30 % (440.1) are first reached by the worst config on 729.
    assert (run.regrets[0.1], run.regrets[0.3], run.regrets[1.0]) == (4.0, 4.0, 0.0)
    assert run.regrets == {f: _expected(f, total) for f in ANYTIME}
    assert list(run.regrets) == list(ANYTIME)
    assert run.curve == [_expected(f, total) for f in CURVE]
    assert run.curve[0] == 4.0 and run.curve[-1] == 0.0
    assert (run.evaluations, run.budget_used, run.seconds) == (3, 1467.0, 1.5)
    assert run.overhead_ms == 0.0  # no timestamps: no overhead
    # Twice the budget: the run stopped at half of it; 100 % gets the final regret.
    short = record_run(PROBLEM, "mine", 3, SEQUENCE, 2 * total, seconds=1.5, error="boom")
    assert short.regrets == {f: _expected(f, 2 * total) for f in ANYTIME}
    assert short.error == "boom" and short.budget_used == 1467.0
    empty = record_run(PROBLEM, "mine", 0, [], total, seconds=0.0)
    assert empty.evaluations == 0 and empty.budget_used == 0.0
    assert all(math.isnan(v) for v in empty.regrets.values())
    assert math.isnan(empty.overhead_ms) and math.isnan(empty.proposal_ms_at_200)


def _timed(n: int, switch: int) -> list[dict]:
    """n evaluations; odd ones repeat the previous config. Before a new config the optimizer
    takes 4 ms up to observation ``switch`` and 2 ms from there on; 10 ms before a repeat."""
    records, clock = [], 0.0
    for i in range(n):
        config = {"c0": 0, "c1": 0, "x0": (i - i % 2) / 1000, "x1": 0.0}
        overhead = 0.010 if i % 2 else (0.004 if i < switch else 0.002)
        started = clock + overhead
        clock = started + 0.5
        records.append(
            {"budget": 9, "config": config, "loss": -1.0, "started": started, "finished": clock}
        )
    return records


@pytest.mark.parametrize(("n", "switch"), [(260, 150), (20, 10)], ids=["long", "short"])
def test_record_run_overhead_per_new_config_around_200_observations(n, switch):
    records = _timed(n, switch)
    run = record_run(PROBLEM, "mine", 0, records, n * 9.0, seconds=records[-1]["finished"])
    mean = sum(0.010 if i % 2 else (0.004 if i < switch else 0.002) for i in range(n)) / n
    assert run.overhead_ms == pytest.approx(1000 * mean)  # every evaluation, in ms
    # Only new configurations among observations 150..249 (a shorter run: its second half).
    assert run.proposal_ms_at_200 == pytest.approx(2.0)


# 3. summarize() / format_table() / check_goals() ---------------------------------------------


def _run(problem, optimizer, seed, final, *, at_200=2.0, error=None) -> RunRecord:
    return RunRecord(
        problem,
        optimizer,
        seed,
        {m: final + 2 * (1 - m) for m in ANYTIME},
        [final + 1] * len(CURVE),
        10,
        100.0,
        0.5,
        at_200,
        2.0,
        error,
    )


def _records() -> list[RunRecord]:
    return [
        # P1: a 1.0 ± 0.3, b 1.3 ± 0.2, c 0.54 ± 0.4, d 0.4 ± 0.4 (two seeds: s.e. = half range)
        _run(P1, "a", 0, 0.7),
        _run(P1, "b", 0, 1.1),
        _run(P1, "c", 0, 0.14),
        _run(P1, "d", 0, 0.0),
        _run(P1, "a", 1, 1.3),
        _run(P1, "b", 1, 1.5, error="RuntimeError: boom"),
        _run(P1, "c", 1, 0.94),
        _run(P1, "d", 1, 0.8),
        # P2: a on one seed (no s.e.) and without an overhead measurement; c 1.4 ± 0.2 from
        # two seeds (the third failed and has NaN regrets).
        _run(P2, "a", 0, 1.5, at_200=math.nan),
        _run(P2, "c", 0, 1.2),
        _run(P2, "c", 1, 1.6),
        _run(P2, "c", 2, math.nan, error="ValueError: bad"),
        # P3: the subject did not run it: no goals.
        _run(P3, "b", 0, 3.0),
    ]


GOALS = Goals(
    subject="a",
    beat={"counting": ("b",)},
    within_se={"counting": ("c", "d"), "mf-hartmann": ("c", "missing")},
    max_regret={P1: 0.5, P2: 2.0, "counting": 0.0},  # exact problem names, not prefixes
    max_overhead_ms=50.0,
)


def test_summarize_averages_over_seeds_in_first_seen_order():
    rows = summarize(_records())
    assert [(r.problem, r.optimizer, r.runs) for r in rows] == [
        (P1, "a", 2),
        (P1, "b", 2),
        (P1, "c", 2),
        (P1, "d", 2),
        (P2, "a", 1),
        (P2, "c", 3),
        (P3, "b", 1),
    ]
    a = rows[0]
    assert a.regrets == pytest.approx({m: 1.0 + 2 * (1 - m) for m in ANYTIME})
    assert a.final_sem == pytest.approx(0.3)
    assert a.curve == pytest.approx([2.0] * len(CURVE))
    assert a.curve_sem == pytest.approx([0.3] * len(CURVE))
    assert (a.evaluations, a.overhead_ms, a.proposal_ms_at_200, a.seconds) == (10, 0.5, 2.0, 2.0)
    assert a.failures == []
    assert rows[1].failures == ["seed 1: RuntimeError: boom"]
    hartmann_a, hartmann_c = rows[4], rows[5]
    assert math.isnan(hartmann_a.final_sem) and math.isnan(hartmann_a.proposal_ms_at_200)
    # NaN regrets of a failed seed are left out of the mean and the standard error.
    assert hartmann_c.regrets[1.0] == pytest.approx(1.4)
    assert hartmann_c.final_sem == pytest.approx(0.2)
    assert hartmann_c.failures == ["seed 2: ValueError: bad"]


def test_format_table_rows_and_failure_notes():
    table = format_table(summarize(_records()))
    lines = table.splitlines()
    assert lines[0].startswith("| problem | optimizer | runs | final regret (mean ± s.e.) |")
    columns = lines[0].count("|") - 1
    assert lines[1] == "|" + "---|" * columns
    a = lines[2]
    assert a.startswith("| counting-ones-2+2 | a | 2 | 1.0000 ± 0.3000 | 2.8000 | 2.4000 |")
    assert a.endswith("| 10 | 0.50 | 2.00 | 2.0 |") and a.count("|") - 1 == columns
    for m in ANYTIME[:-1]:  # every anytime regret before the final one has its column
        assert f"| {1.0 + 2 * (1 - m):.4f} |" in a
    assert lines[6].startswith("| mf-hartmann-3 | a | 1 | 1.5000 ± nan |")
    assert len(lines) == 2 + 7 + 1 + 2 and lines[9] == ""
    assert lines[10:] == [
        "- b on counting-ones-2+2: seed 1: RuntimeError: boom",
        "- c on mf-hartmann-3: seed 2: ValueError: bad",
    ]
    assert "\n\n" not in format_table(summarize(_records()[:1]))  # no notes, no blank line


def test_check_goals_statements_and_the_one_standard_error_rule():
    goals = check_goals(summarize(_records()), GOALS)
    assert goals[:5] == [
        (False, f"{P1}: a 1.0000 <= 0.5"),
        (True, f"{P1}: a 1.0000 < b 1.3000"),
        # Within one s.e. of the difference: hypot(0.3, 0.4) = 0.5, so 1.0 <= 0.54 + 0.5 is
        # met (the larger s.e. alone, 0.4, would miss it) ...
        (True, f"{P1}: a 1.0000 <= c 0.5400 + 1 s.e. 0.5000"),
        # ... and 1.0 > 0.4 + 0.5 is missed (the sum of the s.e.s, 0.7, would meet it).
        (False, f"{P1}: a 1.0000 <= d 0.4000 + 1 s.e. 0.5000"),
        (True, f"{P1}: a overhead per new config @200 obs 2.00 ms < 50 ms"),
    ]
    assert goals[5:7] == [
        (True, f"{P2}: a 1.5000 <= 2"),
        # The subject's missing s.e. (one seed) counts as 0: 1.5 <= 1.4 + 0.2.
        (True, f"{P2}: a 1.5000 <= c 1.4000 + 1 s.e. 0.2000"),
    ]
    # Not measured (NaN) is not below the limit: missed.
    assert goals[7] == (False, f"{P2}: a overhead per new config @200 obs nan ms < 50 ms")
    assert len(goals) == 8  # nothing for P3 (no subject) nor for the absent "missing"
    loose = Goals(subject="a", within_se={"counting": ("d",)}, max_overhead_ms=1.0)
    assert check_goals(summarize(_records()), loose)[:2] == [
        (False, f"{P1}: a 1.0000 <= d 0.4000 + 1 s.e. 0.5000"),
        (False, f"{P1}: a overhead per new config @200 obs 2.00 ms < 1 ms"),
    ]
    assert check_goals(summarize(_records()), Goals(subject="nobody")) == []


# 4. plot_curves() ----------------------------------------------------------------------------


def test_plot_curves_writes_a_png(tmp_path):
    path = plot_curves(summarize(_records()), tmp_path / "regret.png", "(tiny)")
    assert path == tmp_path / "regret.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 1000


# 5. every optimizer through `autorl optimize` ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", [*OWN, *(_external(n) for n in EXTERNAL)])
def test_optimize_one_iteration(name, uninterrupted):
    code, out = uninterrupted(name)
    assert code == 0
    assert (out / "trials.jsonl").exists()
    records = load_trials(out)
    spent = sum(float(r["budget"]) for r in records)
    if name in OWN:
        assert spent == PLANNED
    else:  # a searcher stops asking once the planned budget is committed
        assert PLANNED <= spent <= PLANNED + MAX_BUDGET
    ids = [r["trial"] for r in records]
    assert len(set(ids)) == len(ids)
    by_config = defaultdict(list)
    for r in records:
        by_config[_key(r["config"])].append(r)
    for rows in by_config.values():  # every rung (and any repeat) of a config: its own seed
        assert len({r["seed"] for r in rows}) == len(rows)
    if name == "random":
        assert len(records) == 5 and all(r["budget"] == MAX_BUDGET for r in records)
    else:  # multi-fidelity: some configuration went up at least one rung
        assert max(len(rows) for rows in by_config.values()) > 1
    incumbent = json.loads((out / "incumbent.json").read_text())
    assert incumbent["regret"] == pytest.approx(PROBLEM.regret(incumbent["config"]))
    top = max(r["budget"] for r in records if r["loss"] is not None)
    best = min((r for r in records if r["budget"] == top), key=lambda r: r["loss"])
    assert incumbent["config"] == best["config"] and incumbent["_meta"]["budget"] == top


# 6. resume of an external searcher -----------------------------------------------------------


def _resume_from_half(name, uninterrupted, tmp_path, capsys, *, shift: float = 0.0):
    """Cut the uninterrupted run's trials.jsonl to its first half and resume it.

    ``shift`` moves the kept trials' timestamps later (a first session that ran longer).
    """
    code, full = uninterrupted(name)
    assert code == 0
    out = tmp_path / "resumed"
    shutil.copytree(full, out)
    lines = (full / "trials.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    kept = lines[: len(lines) // 2]
    if shift:
        records = [json.loads(line) for line in kept]
        for record in records:
            record["started"] += shift
            record["finished"] += shift
        kept = [json.dumps(record) + "\n" for record in records]
    (out / "trials.jsonl").write_text("".join(kept), encoding="utf-8")
    capsys.readouterr()
    assert main([*_optimize_argv(name, out), "--resume"]) == 0
    err = capsys.readouterr().err
    return load_trials(full), load_trials(out), kept, err


def _triples(records) -> set:
    return {(_key(r["config"]), r["budget"], r["loss"]) for r in records}


@pytest.mark.slow
@pytest.mark.parametrize("name", [_external("optuna"), _external("smac")])
def test_resume_external_searcher(name, uninterrupted, tmp_path, capsys):
    full, resumed, kept, err = _resume_from_half(name, uninterrupted, tmp_path, capsys)
    replayed = re.search(r"(\d+) taken from the log", err)
    assert replayed and int(replayed.group(1)) >= 1, err
    assert resumed[: len(kept)] == [json.loads(line) for line in kept]
    ids = [r["trial"] for r in resumed]
    assert len(set(ids)) == len(ids)
    assert len(resumed) >= len(full)


@pytest.mark.skipif(not available("optuna"), reason="optuna is not installed")
def test_optuna_is_reproducible_and_resumes_to_the_uninterrupted_run(
    uninterrupted, tmp_path, capsys
):
    full, resumed, kept, err = _resume_from_half("optuna", uninterrupted, tmp_path, capsys)
    fresh = tmp_path / "fresh"
    assert main(_optimize_argv("optuna", fresh)) == 0
    assert _triples(load_trials(fresh)) == _triples(full)  # same seed, same run
    assert f"{len(kept)} taken from the log" in err
    assert _triples(resumed) == _triples(full) and len(resumed) == len(full)


@pytest.mark.skipif(not available("optuna"), reason="optuna is not installed")
def test_observations_of_a_resumed_run_follow_the_log(uninterrupted, tmp_path, capsys):
    _, resumed, kept, _ = _resume_from_half("optuna", uninterrupted, tmp_path, capsys, shift=1000.0)
    assert len(resumed) > len(kept)
    obs = observations(resumed)  # one trial at a time: the log order is the order they ran in
    assert [o.config for o in obs] == [r["config"] for r in resumed]


# 7. --warm-start is BOHB's ------------------------------------------------------------------


def test_warm_start_is_refused_for_an_external_optimizer(tmp_path, capsys):
    out = tmp_path / "run"
    argv = _optimize_argv("optuna", out)
    assert main([*argv, "--warm-start", str(tmp_path / "earlier")]) == 2
    err = capsys.readouterr().err
    assert "--warm-start" in err and "bohb" in err
    assert not out.exists()


# 8. autorl benchmark-optimizers --------------------------------------------------------------


def test_benchmark_optimizers_end_to_end_and_replayed(tmp_path, capsys, monkeypatch):
    calls = []

    def counted(config, budget, seed):
        calls.append(budget)
        return counting_ones(config, budget, seed)

    # The task builds its problem (and so picks its objective) when a run starts.
    monkeypatch.setattr(synthetic, "counting_ones", counted)
    out = tmp_path / "bench"
    argv = ["benchmark-optimizers", "--problems", "counting-ones-4+4", "--optimizers"]
    argv += ["random,bohb", "--seeds", "2", "--iterations", "1", "--out", str(out), "--quiet"]
    begin = time.perf_counter()
    assert main(argv) in (0, 1)  # goals may be missed at this size
    first_seconds = time.perf_counter() - begin
    printed = capsys.readouterr().out
    assert "| counting-ones-4+4 | bohb |" in printed and "bohb" in printed.split("\n\n")[-1]
    summary = json.loads((out / "summary.json").read_text())
    runs = summary["runs"]
    assert sorted((r["optimizer"], r["seed"]) for r in runs) == [
        ("bohb", 0),
        ("bohb", 1),
        ("random", 0),
        ("random", 1),
    ]
    for r in runs:
        assert r["problem"] == "counting-ones-4+4" and r["error"] is None
        assert set(r["regrets"]) == {str(f) for f in ANYTIME}
        assert len(r["curve"]) == len(CURVE)
        assert r["budget_used"] == PLANNED
    assert {(s["optimizer"], s["runs"]) for s in summary["summary"]} == {("random", 2), ("bohb", 2)}
    assert "| counting-ones-4+4 | random | 2 |" in (out / "table.md").read_text()
    assert (out / "regret.png").stat().st_size > 1000
    run_dir = out / "runs" / "counting-ones-4+4" / "bohb" / "seed-0"
    header = json.loads((run_dir / "run.json").read_text())  # written by `autorl optimize`
    assert header["method"] == "bohb" and header["task"] == "counting-ones"
    assert header["max_total_budget"] == PLANNED
    logs = {p: p.read_bytes() for p in sorted((out / "runs").rglob("trials.jsonl"))}
    assert len(logs) == 4
    assert len(calls) == sum(r["evaluations"] for r in runs) > 0

    # Again: every run is replayed from its complete log, nothing is evaluated or logged anew
    # (the wall time is not compared: ~0.9 s against ~0.7 s here, too close on a shared
    # machine; BOHB recomputes its proposals on replay).
    calls.clear()
    begin = time.perf_counter()
    assert main(argv) in (0, 1)
    second_seconds = time.perf_counter() - begin
    assert calls == []
    assert {p: p.read_bytes() for p in logs} == logs
    again = json.loads((out / "summary.json").read_text())
    assert [(r["regrets"], r["curve"]) for r in again["runs"]] == [
        (r["regrets"], r["curve"]) for r in runs
    ]
    print(f"benchmark: {first_seconds:.2f} s, replayed {second_seconds:.2f} s")


@pytest.mark.parametrize(
    ("flag", "value"), [("--problems", "nope"), ("--optimizers", "grid")], ids=["problem", "opt"]
)
def test_benchmark_optimizers_bad_input_exits_2(tmp_path, capsys, flag, value):
    out = tmp_path / "bench"
    argv = ["benchmark-optimizers", "--seeds", "1", "--iterations", "1", "--out", str(out)]
    assert main([*argv, flag, value, "--quiet"]) == 2
    captured = capsys.readouterr()
    assert flag in captured.err and value in captured.err and captured.out == ""
    assert not out.exists()

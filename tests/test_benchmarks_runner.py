from __future__ import annotations

import csv
import signal
import time
from types import SimpleNamespace

import pytest

from autorl.cli import main
from benchmarks import runner
from benchmarks.results import RESULT_FIELDS, read_results, upgrade_results
from benchmarks.runner import (
    RunnerConfig,
    check_method,
    job_seed,
    plan_jobs,
    run_benchmark,
    settings_json,
)
from envs.dot_bracket import Target
from envs.evaluation import STAGES
from envs.folding import mfe_structure

THREE = [
    Target("a", "((((((....))))))"),
    Target("b", "((((....))))..((((....))))"),
    Target("c", "...(((((((...)))))))...(((((...)))))..."),
]
#: Two copies of Rfam-Taneda target 4 (386 nt): one RNAinverse walk takes minutes here.
LONG = 2 * (
    "......(((.((((....)))).))).....................((((((........)))))).(((((((...)))))))......."
    ".....................((((((((....((((....)))).))))))))..((((((.((((((...........))))))..))))"
    "))......."
)


# Solvers run in the job's process (imported there by name through runner.SOLVERS).


def fake_solver(method, settings, model="", constraints=None, energy=None):
    def solve(target, *, time_limit, seed, on_improvement):
        if target.id == "crash":
            raise RuntimeError("the design loop broke")
        if target.id == "stubborn":  # finds the solution at once, then ignores SIGTERM
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            on_improvement(
                SimpleNamespace(sequence="GGGGAAAACCCC", distance=0, found_by="ensemble")
            )
        else:  # reports one poor design, then would run forever
            on_improvement(SimpleNamespace(sequence="A" * len(target), distance=8))
        while True:
            time.sleep(0.1)

    return solve


@pytest.fixture
def fake_methods(monkeypatch):
    monkeypatch.setitem(runner.SOLVERS, "rnainverse", "test_benchmarks_runner:fake_solver")


def _csv_rows(out):
    with open(out / "results.csv", newline="") as file:
        return list(csv.DictReader(file))


def test_rnainverse_three_targets_then_resume(tmp_path):
    config = RunnerConfig("rnainverse", time_limit=5, workers=2, seed=3)
    rows = run_benchmark("three", THREE[:2], config, tmp_path)
    assert len(rows) == 2
    rows = run_benchmark("three", THREE, RunnerConfig(**{**vars(config), "resume": True}), tmp_path)
    assert [row["target_id"] for row in rows] == ["c"]  # a and b were finished: skipped
    on_disk = _csv_rows(tmp_path)
    assert list(on_disk[0]) == list(RESULT_FIELDS)
    assert sorted(row["target_id"] for row in on_disk) == ["a", "b", "c"]
    for row, target in zip(sorted(on_disk, key=lambda r: r["target_id"]), THREE, strict=True):
        assert row["dataset"] == "three" and row["method"] == "rnainverse" and row["run"] == "0"
        assert int(row["seed"]) == job_seed(3, target.id, 0)
        assert int(row["length"]) == len(target) and row["target"] == target.structure
        assert row["solved"] == "1" and row["status"] == "finished"
        assert mfe_structure(row["sequence"]) == target.structure
        assert row["best_distance"] == "0" and 0 <= float(row["time_to_solve"]) <= 5
        assert row["viennarna"] and row["python"] and row["torch"]
    resumed = RunnerConfig("rnainverse", time_limit=5, seed=3, resume=True)
    assert run_benchmark("three", THREE, resumed, tmp_path) == []
    with pytest.raises(ValueError, match="--resume"):
        run_benchmark("three", THREE, RunnerConfig("rnainverse", time_limit=5, seed=3), tmp_path)
    longer = RunnerConfig("rnainverse", time_limit=6, seed=3, resume=True)
    with pytest.raises(ValueError, match="--time-limit"):
        run_benchmark("three", THREE, longer, tmp_path)
    assert len(read_results(tmp_path / "results.csv")) == 3


@pytest.mark.slow
def test_learna_three_targets(tmp_path):
    pytest.importorskip("meta.design")
    rows = run_benchmark("three", THREE, RunnerConfig("learna", time_limit=5, workers=2), tmp_path)
    assert sorted(row["target_id"] for row in rows) == ["a", "b", "c"]
    assert len(_csv_rows(tmp_path)) == 3
    for row in rows:
        assert row["method"] == "learna" and row["status"] in ("finished", "timeout")
        assert float(row["elapsed"]) <= 5 + 1.5
        if row["solved"]:
            assert mfe_structure(row["sequence"]) == row["target"]
            assert float(row["time_to_solve"]) <= 5


def test_hard_limit_stops_an_uninterruptible_rnainverse_walk(tmp_path):
    start = time.monotonic()
    config = RunnerConfig("rnainverse", time_limit=2, grace=0.5)
    (row,) = run_benchmark("long", [Target("long", LONG)], config, tmp_path)
    assert row["status"] == "timeout" and row["solved"] == 0
    assert 2 <= float(row["elapsed"]) <= 3.5
    assert time.monotonic() - start < 20  # spawn + imports + 2.5 s, not minutes


def test_terminated_jobs_keep_their_best_design(tmp_path, fake_methods):
    targets = [Target("forever", "((((....))))"), Target("stubborn", "((((....))))")]
    config = RunnerConfig("rnainverse", time_limit=1, workers=2, grace=0.5)
    start = time.monotonic()
    rows = {row["target_id"]: row for row in run_benchmark("fake", targets, config, tmp_path)}
    assert time.monotonic() - start < 20
    forever, stubborn = rows["forever"], rows["stubborn"]
    assert forever["status"] == "timeout" and forever["solved"] == 0
    assert forever["sequence"] == "A" * 12 and forever["best_distance"] == 8  # refolded
    assert 1 <= float(forever["elapsed"]) <= 2.5
    assert stubborn["status"] == "timeout" and stubborn["solved"] == 1  # killed, solution kept
    assert stubborn["sequence"] == "GGGGAAAACCCC" and float(stubborn["time_to_solve"]) < 1
    assert stubborn["found_by"] == "ensemble" and forever["found_by"] == ""  # as reported


def test_a_crashed_job_is_an_error_and_runs_again_on_resume(tmp_path, fake_methods):
    config = RunnerConfig("rnainverse", time_limit=1, grace=0.2)
    (row,) = run_benchmark("fake", [Target("crash", "((((....))))")], config, tmp_path)
    assert row["status"] == "error" and "the design loop broke" in row["error"]
    assert row["solved"] == 0
    resumed = RunnerConfig("rnainverse", time_limit=1, grace=0.2, resume=True)
    assert len(run_benchmark("fake", [Target("crash", "((((....))))")], resumed, tmp_path)) == 1


def test_meta_methods_run_on_the_shipped_model_and_record_it(tmp_path):
    config = RunnerConfig("meta-learna-adapt", time_limit=10, workers=2)
    rows = run_benchmark("two", THREE[:2], config, tmp_path)
    assert [row["solved"] for row in rows] == [1, 1]
    assert all(row["model"].startswith("shipped:") for row in rows)
    assert all(row["found_by"] in STAGES for row in rows)
    assert all(float(row["time_to_solve"]) < 5 for row in rows)
    # A resume with another checkpoint is refused.
    other = RunnerConfig("meta-learna-adapt", time_limit=10, resume=True)
    existing = read_results(tmp_path / "results.csv")
    with pytest.raises(ValueError, match="with the same --model"):
        plan_jobs("two", THREE[:2], other, existing, model="elsewhere.zip:0123456789ab")
    with pytest.raises(ValueError, match="--model applies to meta-learna"):
        RunnerConfig("learna", model="x.zip")


#: results.csv as autorl 0.1 wrote it (before constraints and quality columns).
LEGACY_FIELDS = [
    "dataset",
    "target_id",
    "length",
    "method",
    "run",
    "seed",
    "time_limit",
    "solved",
    "time_to_solve",
    "best_distance",
    "sequence",
    "structure",
    "status",
    "elapsed",
    "error",
    "config",
    "model",
    "autorl",
    "viennarna",
    "torch",
    "stable_baselines3",
    "python",
]


@pytest.mark.parametrize("with_model", [True, False])
def test_results_of_earlier_versions_are_read_and_upgraded(tmp_path, with_model):
    legacy = [name for name in LEGACY_FIELDS if with_model or name != "model"]
    path = tmp_path / "results.csv"
    row = dict.fromkeys(legacy, "1")
    row["structure"] = "((....))"
    path.write_text(",".join(legacy) + "\n" + ",".join(row[name] for name in legacy) + "\n")
    [read] = read_results(path)
    assert read["target"] == "((....))" and "structure" not in read
    assert read["dataset"] == "1" and read["mfe_structure"] == "" and read["gc"] == ""
    assert read["model"] == ("1" if with_model else "")
    assert upgrade_results(path)
    assert path.read_text().splitlines()[0] == ",".join(RESULT_FIELDS)
    assert read_results(path) == [read]
    assert not upgrade_results(path)


def test_a_method_that_has_not_landed_is_refused(monkeypatch):
    pytest.importorskip("meta.design")
    monkeypatch.setattr("meta.design.METHODS", ("learna",))
    for method in ("meta-learna", "meta-learna-adapt"):
        with pytest.raises(ValueError, match=f"method '{method}' is not implemented yet"):
            check_method(method)
    check_method("rnainverse")
    with pytest.raises(ValueError, match="unknown method"):
        RunnerConfig("nemo")


def test_plan_jobs_seeds_and_order():
    config = RunnerConfig("rnainverse", runs=2, seed=7)
    jobs = plan_jobs("d", THREE[:2], config, [])
    assert [(job.target.id, job.run) for job in jobs] == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    assert len({job.seed for job in jobs}) == 4
    assert jobs[0].seed == job_seed(7, "a", 0) == plan_jobs("d", THREE[:1], config, [])[0].seed


def test_cli_runs_and_reports(tmp_path, capsys):
    targets = tmp_path / "three.txt"
    targets.write_text("".join(f"{t.id}\t{t.structure}\n" for t in THREE))
    out = tmp_path / "out"
    argv = f"benchmark --dataset {targets} --method rnainverse --time-limit 5 --workers 2".split()
    argv += ["--out", str(out), "--targets", "a,c", "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "three" in printed and "rnainverse" in printed and "2/2" in printed
    assert (out / "summary.json").is_file() and (out / "solved_vs_time.png").is_file()
    assert main(argv) == 2  # finished jobs without --resume
    assert "--resume" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0
    assert len(_csv_rows(out)) == 2


def test_config_settings_are_recorded_and_must_match_on_resume():
    with pytest.raises(ValueError, match="--config applies to the LEARNA methods"):
        RunnerConfig("rnainverse", settings=(("n_envs", 8),))
    tuned = RunnerConfig("learna", settings=(("n_envs", 8),), resume=True)
    row = {
        "dataset": "d",
        "target_id": "a",
        "method": "learna",
        "run": "0",
        "status": "finished",
        "time_limit": "60.0",
        "seed": str(job_seed(0, "a", 0)),
        "config": settings_json(tuned.settings),
    }
    assert [job.target.id for job in plan_jobs("d", THREE[:2], tuned, [row])] == ["b"]
    with pytest.raises(ValueError, match="--config settings"):
        plan_jobs("d", THREE[:2], RunnerConfig("learna", resume=True), [row])
    assert settings_json(()) == "" and settings_json((("b", 1), ("a", 2))) == '{"a":2,"b":1}'


def test_cli_benchmark_config_is_validated(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"n_env": 3}')
    argv = [
        "benchmark",
        "--dataset",
        "rfam-taneda",
        "--method",
        "learna",
        "--out",
        str(tmp_path / "o"),
        "--config",
        str(bad),
        "--quiet",
    ]
    assert main(argv) == 2
    assert "unknown key 'n_env'" in capsys.readouterr().err


def test_cli_benchmark_refuses_a_config_that_changes_the_models_network(tmp_path, capsys):
    """Refused before any job runs (each job used to fail, and the run exit 1)."""
    changed = tmp_path / "incumbent.json"
    changed.write_text('{"lstm_units": 3}')
    out = tmp_path / "o"
    argv = ["benchmark", "--dataset", "rfam-taneda", "--method", "meta-learna-adapt"]
    argv += ["--out", str(out), "--config", str(changed), "--quiet"]
    assert main(argv) == 2
    assert "changes the pretrained model's network: lstm_units 3" in capsys.readouterr().err
    assert not out.exists()

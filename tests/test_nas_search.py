"""NAS runs: `autorl nas search` and `autorl nas compare`, determinism, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autorl.cli import main
from envs.execution import SerialExecutor
from envs.nas_children import ChildRecipe
from meta.files import read_json_lines
from meta.nas_controller import ControllerConfig
from meta.nas_search import SearchExistsError, SearchSettings, run_search

TINY = ["--dataset", "digits", "--layers", "2", "--epochs", "1", "--final-epochs", "2"]
SMALL_CONTROLLER = ControllerConfig(episodes_per_update=2, lstm_units=8, embedding_size=4)


def _settings(method: str, evaluations: int = 4, seed: int = 0) -> SearchSettings:
    return SearchSettings(
        dataset="digits",
        evaluations=evaluations,
        method=method,
        layers=2,
        recipe=ChildRecipe(epochs=1),
        final_epochs=0,
        seed=seed,
    )


# "random" (~7 s) is slow: the same seed plumbing as "ppo", which stays by default.
@pytest.mark.parametrize("method", ["ppo", pytest.param("random", marks=pytest.mark.slow)])
def test_a_search_is_deterministic_by_seed(method):
    def architectures(seed: int) -> list:
        result = run_search(
            _settings(method, seed=seed), SMALL_CONTROLLER, executor=SerialExecutor()
        )
        assert len(result.evaluations) == 4
        assert [e["evaluation"] for e in result.evaluations] == list(range(1, 5))
        return [(e["architecture"], e["val_accuracy"]) for e in result.evaluations]

    first = architectures(0)
    assert first == architectures(0)
    assert first != architectures(1)


def test_a_ppo_search_leaves_no_logger_folder_in_the_temp_directory(tmp_path, monkeypatch):
    """SB3's default logger would make an empty SB3-<date> folder there at every learn()."""
    import tempfile

    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    settings = _settings("ppo", evaluations=2)
    result = run_search(settings, SMALL_CONTROLLER, executor=SerialExecutor())
    assert len(result.evaluations) == 2
    assert [path.name for path in temp.glob("SB3-*")] == []


@pytest.mark.slow
def test_search_command_writes_its_files(tmp_path, capsys):
    out = tmp_path / "ppo"
    config = tmp_path / "controller.json"
    config.write_text(json.dumps({"episodes_per_update": 3, "lstm_units": 8}))
    argv = ["nas", "search", *TINY, "--evaluations", "5", "--workers", "1", "--quiet"]
    assert main([*argv, "--config", str(config), "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    entries = read_json_lines(out / "evaluations.jsonl")
    assert len(entries) == report["evaluations"] == 5
    assert {"architecture", "val_accuracy", "parameters", "seconds", "cached"} <= set(entries[0])
    best = json.loads((out / "best.json").read_text())
    assert best["val_accuracy"] == max(e["val_accuracy"] for e in entries)
    assert best["final"]["epochs"] == 2 and 0 < best["final"]["test_accuracy"] <= 1
    assert best["final"]["recipe"]["schedule"] == "cosine"
    assert report["final_test_accuracy"] == best["final"]["test_accuracy"]
    assert (out / "best_so_far.png").stat().st_size > 0
    assert (out / "controller.zip").is_file()
    assert len(read_json_lines(out / "children.jsonl")) == 5
    recorded = json.loads((out / "search.json").read_text())
    assert recorded["controller"]["lstm_units"] == 8 and recorded["seed"] == 0
    assert "torch" in recorded["versions"]
    # the same folder without --resume: refused, nothing changed
    assert main([*argv, "--config", str(config), "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    # a finished run resumed: nothing is trained again
    before = (out / "children.jsonl").read_text()
    assert main([*argv, "--config", str(config), "--out", str(out), "--resume"]) == 0
    assert (out / "children.jsonl").read_text() == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dataset", "cifar10"], "unknown dataset 'cifar10'"),
        (["--evaluations", "0"], "--evaluations must be >= 1"),
        (["--layers", "0"], "--layers must be >= 1"),
        (["--method", "evolution"], "unknown method 'evolution'"),
        (["--strides", "1,x"], "--strides: expected comma-separated integers"),
        (["--device", "tpu"], "device"),
        (["--device", "cuda:7"], "--device cuda:7"),
    ],
)
def test_bad_input_exits_2_with_one_message_and_writes_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    assert main(["nas", "search", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_bad_controller_config_names_the_file(tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text('{"lstm_unit": 3}')
    out = tmp_path / "run"
    assert main(["nas", "search", *TINY, "--config", str(config), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "c.json" in err and "unknown key 'lstm_unit'" in err
    assert not out.exists()


def test_resume_with_other_settings_is_refused(tmp_path):
    out = tmp_path / "run"
    run_search(_settings("random", 2), out=out, executor=SerialExecutor())
    with pytest.raises(SearchExistsError, match="resume it with its own settings"):
        run_search(_settings("random", 3), out=out, resume=True, executor=SerialExecutor())


@pytest.mark.slow
def test_resume_after_a_kill_loses_no_finished_evaluation(tmp_path):
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "autorl.cli",
        "nas",
        "search",
        "--dataset",
        "digits",
        "--layers",
        "3",
        "--epochs",
        "2",
        "--final-epochs",
        "0",
        "--evaluations",
        "8",
        "--method",
        "random",
        "--workers",
        "1",
        "--quiet",
        "--out",
        str(out),
    ]
    process = subprocess.Popen(command, start_new_session=True)
    log = out / "evaluations.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(read_json_lines(log)) < 3:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = read_json_lines(log)
    assert 3 <= len(finished) < 8, "kill the run midway"
    cache_lines = Path(out / "children.jsonl").read_text().splitlines()
    subprocess.run([*command, "--resume"], check=True, timeout=300)
    entries = read_json_lines(log)
    assert entries[: len(finished)] == finished  # kept as they were
    assert len({json.dumps(e["architecture"], sort_keys=True) for e in entries}) == 8
    assert len(entries) == 8
    # the resumed run trained only children it had not trained before
    assert Path(out / "children.jsonl").read_text().splitlines()[: len(cache_lines)] == cache_lines
    assert len(read_json_lines(out / "children.jsonl")) == 8


@pytest.mark.slow
def test_compare_command_reports_both_methods(tmp_path, capsys):
    out = tmp_path / "compare"
    argv = ["nas", "compare", *TINY, "--evaluations", "3", "--seeds", "2", "--workers", "1"]
    config = tmp_path / "controller.json"
    config.write_text(json.dumps({"episodes_per_update": 2, "lstm_units": 8}))
    assert main([*argv, "--config", str(config), "--out", str(out), "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "| ppo | 2 |" in table and "| random | 2 |" in table
    assert "Difference of the mean best validation accuracies (ppo - random)" in table
    summary = json.loads((out / "summary.json").read_text())
    assert [row["method"] for row in summary["runs"]] == ["ppo", "ppo", "random", "random"]
    ppo = [row["best_val_accuracy"] for row in summary["runs"] if row["method"] == "ppo"]
    mean, _ = summary["methods"]["ppo"]["best_val_accuracy"]
    assert mean == pytest.approx(sum(ppo) / 2)
    assert all(0 < row["final_test_accuracy"] <= 1 for row in summary["runs"])
    assert (out / "comparison.png").stat().st_size > 0
    # again without --resume: refused; with it: read back, nothing rerun
    assert main([*argv, "--config", str(config), "--out", str(out), "--quiet"]) == 2
    capsys.readouterr()
    assert main([*argv, "--config", str(config), "--out", str(out), "--quiet", "--resume"]) == 0
    assert json.loads((out / "summary.json").read_text())["runs"] == summary["runs"]

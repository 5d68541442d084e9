from __future__ import annotations

import json

import pytest

from autorl.cli import main
from meta.config import LearnaConfig


def test_optimize_counting_ones_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["optimize", "--task", "counting-ones", "--dims", "2", "--iterations", "3"]
    assert main([*args, "--out", str(out), "--seed", "1", "--quiet"]) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith("incumbent: loss ")
    incumbent = json.loads((out / "incumbent.json").read_text())
    assert set(incumbent["config"]) == {"c0", "c1", "x0", "x1"}
    assert incumbent["regret"] >= 0 and incumbent["_meta"]["budget"] == 729
    assert (out / "trajectory.png").stat().st_size > 1000
    header = json.loads((out / "run.json").read_text())
    assert header["task"] == "counting-ones" and header["seed"] == 1

    # Same directory again: refused without --resume; --resume with other settings refused.
    assert main([*args, "--out", str(out), "--seed", "1", "--quiet"]) == 2
    assert main([*args, "--out", str(out), "--seed", "2", "--resume", "--quiet"]) == 2
    assert "different bohb" in capsys.readouterr().err
    assert main([*args, "--out", str(out), "--seed", "1", "--resume", "--quiet"]) == 0
    assert "taken from the log" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--task", "counting-ones", "--targets", "x.txt"], "rna-learna only"),
        (["--task", "counting-ones", "--min-budget", "0"], "min_budget"),
        (["--task", "mf-hartmann-6", "--iterations", "0"], "iterations"),
        (["--task", "rna-learna", "--targets", "missing.txt"], "not found"),
    ],
)
def test_optimize_bad_input_exits_2(tmp_path, capsys, extra, message):
    argv = ["optimize", "--iterations", "1", "--out", str(tmp_path / "o"), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_optimize_rna_learna_incumbent_is_a_design_config(tmp_path, capsys):
    targets = tmp_path / "targets.txt"
    targets.write_text("a\t((((....))))\nb\t((((...))))..((((...))))\n", encoding="utf-8")
    out = tmp_path / "run"
    argv = ["optimize", "--task", "rna-learna", "--targets", str(targets), "--min-budget", "1"]
    argv += ["--max-budget", "3", "--iterations", "1", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    config = LearnaConfig.load(out / "incumbent.json")
    assert config.policy.fc_units >= 8
    assert main(
        [
            "design",
            "--target",
            "((((....))))",
            "--config",
            str(out / "incumbent.json"),
            "--time-limit",
            "5",
            "--quiet",
        ]
    ) in (0, 1)

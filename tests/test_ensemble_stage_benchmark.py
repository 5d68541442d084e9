"""benchmarks.ensemble_stage: the ensemble stage alone on a target file."""

from __future__ import annotations

import json

from benchmarks import ensemble_stage
from envs.dot_bracket import read_targets

EASY = "((((((....))))))...((((((....))))))"
#: No sequence folds into it: an interior loop of 32 sites (ViennaRNA's limit is 30).
BLOCKED = "((" + "." * 16 + "(((....)))" + "." * 16 + "))"


def test_main_reports_every_target(tmp_path, capsys):
    path = tmp_path / "targets.txt"
    path.write_text(f"# two targets\neasy\t{EASY}\nblocked\t{BLOCKED}\n", encoding="utf-8")
    unsolved = tmp_path / "unsolved.txt"
    args = [str(path), "--seconds", "1.5", "--workers", "1", "--decompose", "0.2"]
    assert ensemble_stage.main([*args, "--sites", "softmax", "--unsolved", str(unsolved)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["count"] == 2 and report["solved"] == 1
    assert report["settings"]["decompose"] == 0.2 and report["settings"]["gu_pairs"] is True
    easy, blocked = report["per_target"]["easy"], report["per_target"]["blocked"]
    assert easy["solved"] and easy["distance"] == 0
    assert not blocked["solved"] and blocked["distance"] > 0 and blocked["evaluations"] > 1
    assert blocked["walk_seconds"] == 0.0  # no competitor steps without --rivals
    assert report["distance_sum"] == blocked["distance"]
    assert report["settings"]["sites"] == "softmax"
    assert unsolved.read_text(encoding="utf-8") == f"blocked\t{BLOCKED}\n"
    assert [t.id for t in read_targets(unsolved)] == ["blocked"]  # a target file again


def test_the_stage_runs_with_the_settings_given():
    row = ensemble_stage.run_target(
        EASY, ensemble_stage.StageSettings(2.0, gu_pairs=False, starts=1), seed=0
    )
    assert row["solved"] and row["evaluations"] >= 1 and row["length"] == len(EASY)
    blocked = ensemble_stage.run_target(
        BLOCKED, ensemble_stage.StageSettings(1.0, starts=1, rivals=1.0), seed=0
    )
    assert not blocked["solved"] and 0 < blocked["walk_seconds"] <= blocked["seconds"]


def test_a_bad_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("x\t((..\n", encoding="utf-8")
    assert ensemble_stage.main([str(bad)]) == 2
    assert "bad.txt" in capsys.readouterr().err
    assert ensemble_stage.main([str(tmp_path / "missing.txt")]) == 2

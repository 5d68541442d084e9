from __future__ import annotations

import json

import pytest
from result_rows import DOUBLE, HAIRPIN, STEM6
from result_rows import result_row as _row

from autorl.cli import main
from benchmarks.report import PUBLISHED, report, summarize, verify_row
from benchmarks.results import RESULT_FIELDS, append_result, read_results


@pytest.fixture
def results(tmp_path):
    """learna: 3 targets x 2 runs (limit 2 h); rnainverse: 1 run with a forged solution."""
    rows = [
        _row("1", HAIRPIN, "learna", 0, seconds=5.0),
        _row("2", DOUBLE, "learna", 0, seconds=100.0),
        _row("3", STEM6, "learna", 0),
        _row("1", HAIRPIN, "learna", 1, seconds=2.0),
        _row("2", DOUBLE, "learna", 1),
        _row("3", STEM6, "learna", 1, seconds=4000.0),
        _row("1", HAIRPIN, "rnainverse", 0, seconds=0.5, limit=60),
        # marked solved, but this sequence folds into nothing like the target
        _row("2", DOUBLE, "rnainverse", 0, seconds=1.0, sequence="A" * 26, limit=60),
        # marked solved, but only after the limit
        _row("3", STEM6, "rnainverse", 0, seconds=61.0, limit=60),
    ]
    for row in rows:
        append_result(tmp_path / "results.csv", row)
    return tmp_path


def test_figures_from_a_hand_made_results_file(results):
    summary = summarize(read_results(results / "results.csv"))
    learna, rnainverse = summary["groups"]
    assert (learna["method"], rnainverse["method"]) == ("learna", "rnainverse")
    assert learna["targets"] == 3 and learna["runs"] == 2 and learna["complete"]
    assert learna["solved_any"] == 3
    assert learna["solved_per_run"] == [2, 2] and learna["mean_solved"] == 2.0
    assert learna["first_solve_times"] == {"1": 2.0, "2": 100.0, "3": 4000.0}
    assert learna["solved_within"] == {"10s": 1, "60s": 1, "10min": 2, "1h": 2}  # no 24h: > limit
    assert learna["median_time_to_solve"] == 100.0
    assert learna["rejected"] == [] and learna["timeouts"] == 2
    assert rnainverse["solved_within"] == {"10s": 1, "60s": 1}


def test_a_wrong_solved_design_is_not_counted(results):
    rnainverse = summarize(read_results(results / "results.csv"))["groups"][1]
    assert rnainverse["solved_any"] == 1 and rnainverse["mean_solved"] == 1.0
    reasons = {item["target_id"]: item["reason"] for item in rnainverse["rejected"]}
    assert "does not fold into the target" in reasons["2"]
    assert "beyond the 60 s limit" in reasons["3"]
    assert verify_row({k: str(v) for k, v in _row("1", HAIRPIN, "x", 0, seconds=1).items()}) == ""


def test_a_solved_row_with_a_malformed_target_is_rejected_with_the_reason():
    row = {k: str(v) for k, v in _row("1", HAIRPIN, "x", 0, seconds=1).items()}
    row["target"] = "((((....)))."  # unbalanced, as long as the sequence
    assert "the row's target is malformed" in verify_row(row)
    assert "position 1" in verify_row(row)


def test_the_last_row_of_a_job_counts(tmp_path):
    append_result(tmp_path / "results.csv", _row("1", HAIRPIN, "learna", 0, status="error"))
    append_result(tmp_path / "results.csv", _row("1", HAIRPIN, "learna", 0, seconds=3.0))
    (group,) = summarize(read_results(tmp_path / "results.csv"))["groups"]
    assert group["jobs"] == 1 and group["solved_any"] == 1 and group["errors"] == 0


def test_report_writes_summary_plot_and_published_figures(results, capsys):
    assert main(["benchmark", "report", str(results)]) == 0
    text = capsys.readouterr().out
    summary = json.loads((results / "summary.json").read_text())
    expected = {**summarize(read_results(results / "results.csv")), "machine": []}
    assert summary == json.loads(json.dumps(expected))  # no machine.jsonl: no calibrations
    png = (results / "solved_vs_time.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert not [p for p in results.iterdir() if p.name.startswith(".")]  # no temporaries left
    lines = text.splitlines()
    ours = next(line for line in lines if line.startswith("rfam-taneda") and "learna " in line)
    assert "3/3" in ours and "2.0(0.0)" in ours and "100s" in ours
    assert "not counted: the sequence does not fold into the target" in text
    published = text[text.index("Published figures (NOT ours") :]
    assert "Meta-LEARNA" in published and "23/29" in published and "24/29" in published
    assert all(item["published"] for item in summary["published"])
    assert {item["dataset"] for item in summary["published"]} == {"rfam-taneda"}


def test_unsolved_undesignable_targets_lower_the_ceiling(tmp_path, capsys):
    bulged = ("....(.((((((......)))))))", "")  # Rfam-Taneda 20's 3' end: never an MFE
    rows = [
        _row("1", HAIRPIN, "learna", 0, seconds=1.0),
        _row("2", STEM6, "learna", 0),  # unsolved but designable: no proof
        _row("3", bulged, "learna", 0),
        _row("4", ("((((((((((..))))))))))", ""), "learna", 0),  # a 2-base hairpin
    ]
    rows[3]["mfe_structure"] = "(" * 11 + "." * 11  # malformed: ignored, not a crash
    for row in rows:
        append_result(tmp_path / "results.csv", row)
    (group,) = summarize(read_results(tmp_path / "results.csv"))["groups"]
    assert list(group["undesignable"]) == ["3", "4"] and group["ceiling"] == 2
    assert "pair 5-25 cannot be an MFE pair" in group["undesignable"]["3"]
    assert "hairpin of 2 unpaired bases" in group["undesignable"]["4"]
    assert main(["benchmark", "report", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "2 unsolved targets are proved undesignable (3, 4): at most 2/4 can be solved" in text


def test_published_figures_are_the_issues():
    figures = {(f.dataset, f.method): f.solved for f in PUBLISHED}
    assert figures[("eterna100-v1", "Meta-LEARNA")] == 68
    assert figures[("rfam-learn-test", "Meta-LEARNA-Adapt")] == 99
    assert figures[("eterna100-v2", "NEMO")] == 86 and figures[("eterna100-v1", "RNAinverse")] == 20


def test_report_of_a_directory_without_results(tmp_path, capsys):
    assert main(["benchmark", "report", str(tmp_path)]) == 2
    assert "no results.csv" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no results.csv"):
        report(tmp_path)
    assert RESULT_FIELDS[0] == "dataset"

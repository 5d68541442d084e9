"""The benchmark runner and report under constraints and energy models."""

import pytest

from benchmarks.report import summarize
from benchmarks.results import append_result, read_results
from benchmarks.runner import RunnerConfig, benchmark_constraint, plan_jobs, run_benchmark
from envs.constraints import IUPAC, DesignConstraints, gc_content
from envs.dot_bracket import Target
from envs.folding import EnergyModel, mfe_structure

TARGETS = [
    Target("a", "((((((....))))))..((((....))))"),
    Target("b", "...((((((....))))))...((((....))))..."),
]


def test_generated_constraints_are_seeded_by_target_and_fix_the_share_of_loop_sites():
    structure = TARGETS[1].structure
    code = benchmark_constraint(structure, 0.5, 0, "b")
    assert code == benchmark_constraint(structure, 0.5, 0, "b")
    assert code != benchmark_constraint(structure, 0.5, 1, "b")
    fixed = [i for i, c in enumerate(code) if c != "N"]
    assert len(fixed) == round(0.5 * structure.count("."))
    assert all(structure[i] == "." for i in fixed)


def test_rnainverse_benchmark_under_constraints_reports_only_satisfying_designs(tmp_path):
    rules = DesignConstraints(gc=(0.4, 0.6), forbid=("GGGG",))
    config = RunnerConfig(
        "rnainverse",
        time_limit=4,
        workers=2,
        constraint_fraction=0.3,
        constraints=rules,
        energy=EnergyModel(temperature=42.0),
    )
    rows = run_benchmark("tiny", TARGETS, config, tmp_path)
    assert len(rows) == 2
    for row, target in zip(sorted(rows, key=lambda r: r["target_id"]), TARGETS):
        code = benchmark_constraint(target.structure, 0.3, 0, target.id)
        assert row["sequence_constraint"] == code and row["target"] == target.structure
        assert (row["gc"], row["forbid"], row["temperature"]) == ("0.4:0.6", "GGGG", "42")
        sequence = row["sequence"]
        if not sequence:
            continue
        assert row["constraints_ok"] == 1
        assert all(s in IUPAC[c] for s, c in zip(sequence, code))
        assert 0.4 <= gc_content(sequence) <= 0.6 and "GGGG" not in sequence
        assert row["mfe_structure"] == mfe_structure(sequence, EnergyModel(temperature=42.0))
    [group] = summarize(read_results(tmp_path / "results.csv"))["groups"]
    assert group["constrained_jobs"] == 2 and group["constraint_violations"] == 0


def test_report_rejects_and_counts_a_design_that_breaks_its_constraints(tmp_path):
    structure, design = "((((....))))", "GGGGAAAACCCC"
    base = {
        "dataset": "d",
        "length": 12,
        "method": "learna",
        "run": 0,
        "seed": 1,
        "time_limit": 10,
        "solved": 1,
        "time_to_solve": 1.0,
        "best_distance": 0,
        "sequence": design,
        "target": structure,
        "status": "finished",
        "temperature": "37",
        "energy_params": "turner2004",
        "dangles": "2",
        "no_lonely_pairs": "0",
    }
    append_result(tmp_path / "results.csv", dict(base, target_id="ok", gc="0.6:0.7"))
    append_result(tmp_path / "results.csv", dict(base, target_id="gc", gc="0.2:0.4"))
    append_result(
        tmp_path / "results.csv", dict(base, target_id="code", sequence_constraint="NNNNUNNNNNNN")
    )
    [group] = summarize(read_results(tmp_path / "results.csv"))["groups"]
    assert group["solved_any"] == 1
    assert sorted(item["target_id"] for item in group["rejected"]) == ["code", "gc"]
    assert group["constrained_jobs"] == 3 and group["constraint_violations"] == 2


def test_infeasible_and_changed_constraints_are_refused(tmp_path):
    impossible = RunnerConfig(
        "rnainverse", constraint_fraction=1.0, constraints=DesignConstraints(gc=(0.99, 1.0))
    )
    with pytest.raises(ValueError, match="GC content"):
        run_benchmark("tiny", TARGETS[:1], impossible, tmp_path)
    assert not (tmp_path / "results.csv").exists()
    rows = run_benchmark("tiny", TARGETS[:1], RunnerConfig("rnainverse", time_limit=2), tmp_path)
    other = RunnerConfig(
        "rnainverse", time_limit=2, resume=True, constraints=DesignConstraints(gc=(0.3, 0.7))
    )
    with pytest.raises(ValueError, match="other constraints or another energy model"):
        plan_jobs("tiny", TARGETS[:1], other, rows)
    with pytest.raises(ValueError, match="constraint-fraction"):
        RunnerConfig("rnainverse", constraint_fraction=1.5)

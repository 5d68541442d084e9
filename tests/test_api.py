"""The Python API (``from autorl import design``) and the constraint options of the CLI."""

import json
import re
from pathlib import Path

import pytest

from autorl.cli import main
from envs.constraints import IUPAC, violations
from envs.folding import EnergyModel, fold, mfe_structure

REPO = Path(__file__).resolve().parents[1]
HAIRPINS = "((((((....))))))..((((....))))"
LOOP_FIXED = "NNNNNNGAAANNNNNNNNNNNNNNNNNNNN"
FAST = {"time_limit": 20, "seed": 3, "device": "cpu"}


def _matches(sequence, code):
    return all(s in IUPAC[c] for s, c in zip(sequence, code, strict=True))


def test_design_api_honours_every_constraint():
    from autorl import design

    [result] = design(
        HAIRPINS,
        sequence_constraint=LOOP_FIXED,
        gc=(0.4, 0.6),
        forbid="GGGG,CCCC",
        num_solutions=2,
        rank_by="probability",
        **FAST,
    )
    assert result.solved and len(result.designs) == 2
    assert result.sequence == result.designs[0].sequence
    probabilities = [d.probability for d in result.designs]
    assert probabilities == sorted(probabilities, reverse=True)
    for designed in result.designs:
        assert designed.solved and designed.satisfies_constraints
        assert designed.constraints == {"sequence": True, "gc": True, "forbid": True}
        assert _matches(designed.sequence, LOOP_FIXED)
        assert 0.4 <= designed.gc_content <= 0.6
        assert "GGGG" not in designed.sequence and "CCCC" not in designed.sequence
        assert mfe_structure(designed.sequence) == HAIRPINS
        assert 0 < designed.probability <= 1 and 0 <= designed.ensemble_defect < 1
        assert not violations(designed.sequence, result.constraints)


@pytest.mark.parametrize("method", ["meta-learna", "learna"])
def test_other_methods_honour_the_sequence_constraint(method):
    from autorl import design

    code = "NNNNNNNNNNNNNNNNNNNNAUGNNNNNNNNNNNNNN"
    [result] = design(
        "...((((((....))))))...((((....))))...", sequence_constraint=code, method=method, **FAST
    )
    assert result.sequence and _matches(result.sequence, code)
    assert result.designs[0].constraints["sequence"]


def test_designs_are_made_and_verified_at_the_requested_temperature():
    from autorl import design

    hot = EnergyModel(temperature=50.0)
    [result] = design("((((((....))))))", temperature=50.0, **FAST)
    assert result.solved and result.energy == hot
    designed = result.designs[0]
    structure, energy = fold(designed.sequence, hot)
    assert structure == "((((((....))))))"
    assert designed.mfe_energy == pytest.approx(energy, abs=0.01)
    assert designed.mfe_energy != pytest.approx(fold(designed.sequence)[1], abs=0.01)


def test_api_and_cli_give_the_same_designs(capsys):
    from autorl import design

    results = design(
        HAIRPINS, sequence_constraint=LOOP_FIXED, gc=(0.4, 0.6), num_solutions=2, **FAST
    )
    code = main(
        [
            "design",
            "--target",
            HAIRPINS,
            "--sequence-constraint",
            LOOP_FIXED,
            "--gc",
            "0.4:0.6",
            "--num-solutions",
            "2",
            "--time-limit",
            "20",
            "--seed",
            "3",
            "--device",
            "cpu",
            "--format",
            "json",
            "--quiet",
        ]
    )
    assert code == 0
    [printed] = json.loads(capsys.readouterr().out)
    assert [d["sequence"] for d in printed["designs"]] == [d.sequence for d in results[0].designs]
    assert printed["constraints"] == {
        "sequence_constraint": LOOP_FIXED,
        "gc": [0.4, 0.6],
        "forbid": [],
    }
    assert printed["energy"]["temperature"] == 37.0 and "versions" in printed


def test_target_file_constraints_reach_the_designs(capsys):
    code = main(
        ["design", "--target", str(REPO / "examples" / "constrained.txt"), "--format", "fasta"]
        + ["--time-limit", "20", "--device", "cpu", "--quiet"]
    )
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    headers, sequences = lines[0::2], lines[1::2]
    assert [h.split()[0] for h in headers] == [">gaaa-hairpin", ">start-codon"]
    assert all("constraints=sequence:ok" in h for h in headers)
    assert sequences[0][6:10] == "GAAA" and sequences[1][20:23] == "AUG"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sequence-constraint", "NNNN"], "has 4 codes, target 1 has 16 sites"),
        (["--sequence-constraint", "NNNNNNNXNNNNNNNN"], "position 8: 'X' is not an IUPAC"),
        (["--sequence-constraint", "ANNNNNNNNNNNNNNA"], r"positions 1-16 \(A with A\)"),
        (["--gc", "0.7:0.3"], "minimum 0.7 is above the maximum 0.3"),
        (["--gc", "half"], "--gc must be MIN:MAX"),
        (["--forbid", "AAXA"], "'X' is not an IUPAC"),
        (["--energy-params", "turner1066"], "unknown energy parameter set 'turner1066'"),
        (["--temperature", "500"], "temperature must be in"),
        (["--no-lonely-pairs", "--target", "((.(....).))"], "lonely base pairs"),
    ],
)
def test_bad_constraint_and_energy_input_exits_2(capsys, extra, message):
    args = ["design", "--target", "((((((....))))))", *extra, "--time-limit", "5", "--quiet"]
    if "--target" in extra:  # the parametrized target replaces the default one
        args = ["design", *extra, "--time-limit", "5", "--quiet"]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.search(message, captured.err), captured.err


def test_unreadable_parameter_files_exit_2(capsys, tmp_path):
    garbage = tmp_path / "garbage.par"
    garbage.write_text("stack\n1 2 3\n")
    for path in (garbage, tmp_path / "missing.par"):
        code = main(["design", "--target", "((((....))))", "--energy-params", str(path)])
        assert code == 2
        captured = capsys.readouterr()
        assert captured.out == "" and str(path.name) in captured.err


def test_api_refuses_bad_input_before_any_work():
    from autorl import design

    with pytest.raises(ValueError, match="GC content"):
        design("((((....))))", sequence_constraint="NNNNAAAANNNN", gc=(0.9, 1.0))
    with pytest.raises(ValueError, match="unknown ranking"):
        design("((((....))))", rank_by="beauty")
    with pytest.raises(ValueError, match="forces the forbidden motif GAAA"):
        design("((((....))))", sequence_constraint="NNNNGAAANNNN", forbid=["GAAA"])


def test_torch_is_warmed_up_once_before_the_first_target_clock_starts(monkeypatch):
    """torch's lazy imports at the first optimizer are not spent in a target's time."""
    from autorl import design
    from meta import design as design_module

    calls: list[str] = []
    real_design = design_module.design
    monkeypatch.setattr(design_module, "warm_up", lambda device: calls.append(f"warm {device}"))

    def spy(target, **kwargs):
        calls.append(f"design {target.id}")
        return real_design(target, **kwargs)

    monkeypatch.setattr(design_module, "design", spy)
    results = design(["((((....))))", "((((...))))"], time_limit=5, seed=0, device="cpu")
    assert len(results) == 2
    assert calls == ["warm cpu", "design 1", "design 2"]


def test_a_config_that_changes_the_models_network_is_refused_before_the_warm_up(
    monkeypatch, tmp_path
):
    from autorl import design
    from meta import design as design_module
    from meta.checkpoints import CheckpointError

    def warm_up(device):
        raise AssertionError("warmed up before the configuration was checked")

    monkeypatch.setattr(design_module, "warm_up", warm_up)
    config = tmp_path / "incumbent.json"
    config.write_text('{"fc_units": 7}')
    with pytest.raises(CheckpointError, match="network: fc_units 7"):
        design("((((....))))", config=config, device="cpu")


def test_readme_python_example_runs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Python API") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    results = namespace["results"]
    assert results and all(r.designs for r in results)


def test_a_design_that_breaks_a_constraint_is_never_reported(capsys):
    from autorl import design

    # Feasible site by site, but no sequence avoids A, U and G on a target with pairs:
    # every design fails its repair, so nothing may be reported.
    [result] = design("((((....))))", forbid="A,U,G", time_limit=2, seed=0, device="cpu")
    assert not result.solved and result.sequence == "" and result.designs == []
    assert result.episodes > 0
    code = main(
        ["design", "--target", "((((....))))", "--forbid", "A,U,G", "--time-limit", "2"]
        + ["--quiet", "--format", "fasta"]
    )
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert "no design met the constraints" in captured.err


def test_designability_api_checks_input_and_follows_the_constraint():
    from autorl import designability

    [weak] = designability("(((....)))", sequence_constraint="WWWNNNNWWW")
    assert weak.undesignable  # three A-U (or U-A) pairs never beat the open chain
    [report] = designability("(((....)))")
    assert not report.undesignable  # G-C pairs do
    [bulged, fine] = designability(["....(.((((((......)))))))", "((((....))))"])
    assert bulged.undesignable and bulged.obstacles[0].pair == (5, 25)
    assert not fine.undesignable and fine.competitors > 0
    with pytest.raises(ValueError, match="max_assignments"):
        designability("((((....))))", max_assignments=0)
    with pytest.raises(ValueError, match="lonely"):
        designability("..(....)..", no_lonely_pairs=True)
    with pytest.raises(ValueError, match="position"):
        designability("((((....)))")

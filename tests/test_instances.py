"""The task layer: instance distributions and evaluation protocols (envs.instances), on RNA."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from envs.constraints import DesignConstraints
from envs.dot_bracket import InvalidStructureError, Target, pair_table
from envs.folding import EnergyModel, design_metrics, hamming, mfe_structure
from envs.instances import EvaluationProtocol, InstanceDistribution, Verdict, judge
from envs.rna_instances import (
    RnaDesignEvaluation,
    TargetSet,
    design_score,
    is_solved,
    targets_sha256,
)
from meta.quality import DesignedSequence

HAIRPIN = Target("hairpin", "((((....))))")
DESIGN = "GGGGAAAACCCC"  # folds into HAIRPIN under ViennaRNA's default model
EVALUATION = RnaDesignEvaluation()


def _targets(count: int) -> list[Target]:
    return [Target(f"t{i}", "(" * (i + 1) + "...." + ")" * (i + 1)) for i in range(count)]


def _gc_start(target: Target) -> str:
    """GC on every pair, A in every loop (solves many short targets)."""
    pairs = pair_table(target.structure)
    return "".join(
        "A" if pairs[i] < 0 else ("G" if pairs[i] > i else "C") for i in range(len(target))
    )


# ----------------------------------------------------------------------------- protocol


def test_a_solved_design_scores_zero_and_is_verified():
    verdict = judge(EVALUATION, HAIRPIN, DESIGN)
    assert verdict.instance_id == "hairpin"
    assert verdict.score == 0.0 and verdict.solved and verdict.verified and verdict.accepted
    assert verdict.metrics["mfe_structure"] == HAIRPIN.structure
    assert verdict.metrics["constraints_ok"] and verdict.metrics["problems"] == []
    assert 0.0 < verdict.metrics["probability"] <= 1.0


def test_an_unsolved_design_scores_its_hamming_distance():
    sequence = "A" * len(HAIRPIN)
    folded = mfe_structure(sequence)
    verdict = judge(EVALUATION, HAIRPIN, sequence)
    assert verdict.score == hamming(folded, HAIRPIN.structure) == 8
    assert not verdict.solved and not verdict.verified and not verdict.accepted
    assert verdict.metrics["distance"] == 8


def test_a_design_that_breaks_its_iupac_constraint_is_not_solved():
    constrained = Target("c", HAIRPIN.structure, "NNNNUNNNNNNN")
    assert mfe_structure(DESIGN) == constrained.structure  # it folds right, yet ...
    verdict = judge(EVALUATION, constrained, DESIGN)
    assert verdict.score == math.inf and not verdict.solved and not verdict.verified
    assert verdict.metrics["distance"] == 0 and not verdict.metrics["constraints_ok"]
    assert verdict.metrics["constraints"] == {"sequence": False}
    assert "position" in verdict.metrics["problems"][0]
    keeping = "GGGGUAAACCCC"
    assert judge(EVALUATION, constrained, keeping).score == hamming(
        mfe_structure(keeping), constrained.structure
    )


def test_gc_and_motif_rules_of_the_evaluation_apply():
    assert EVALUATION.verify(HAIRPIN, DESIGN)
    for rules in (DesignConstraints(gc=(0.2, 0.4)), DesignConstraints(forbid=("GGGG",))):
        strict = RnaDesignEvaluation(constraints=rules)
        assert strict.score(HAIRPIN, DESIGN) == math.inf
        assert not strict.verify(HAIRPIN, DESIGN)
        assert strict.problems(HAIRPIN, DESIGN)


def test_the_energy_model_is_the_evaluations():
    hot = RnaDesignEvaluation(energy=EnergyModel(temperature=95.0))
    assert hot.score(HAIRPIN, DESIGN) > 0 and not hot.verify(HAIRPIN, DESIGN)
    assert hot.score(HAIRPIN, DESIGN) == hamming(
        mfe_structure(DESIGN, EnergyModel(temperature=95.0)), HAIRPIN.structure
    )


@pytest.mark.parametrize(
    ("sequence", "problem"),
    [("", "not an ACGU"), ("GGGGAAAACCCT", "not an ACGU"), ("GGGGAAACCCC", "11 nt")],
)
def test_a_malformed_sequence_is_never_solved(sequence, problem):
    verdict = judge(EVALUATION, HAIRPIN, sequence)
    assert verdict.score == math.inf and not verdict.solved and not verdict.verified
    assert problem in verdict.metrics["problems"][0]
    assert set(verdict.metrics) == {"problems"}


def test_sequence_constraints_belong_to_the_targets():
    with pytest.raises(ValueError, match="come from the targets"):
        RnaDesignEvaluation(constraints=DesignConstraints(sequence="N" * 12))


def test_verify_agrees_with_score_on_benchmark_targets(shared_data):
    rng = np.random.default_rng(0)
    evaluation = RnaDesignEvaluation()
    agreements = []
    for name in ("eterna100_v1.txt", "rfam_taneda.txt"):
        targets = sorted(TargetSet.from_file(shared_data / name).targets, key=len)[:3]
        for target in targets:
            randoms = ["".join(rng.choice(list("ACGU"), len(target))) for _ in range(4)]
            for sequence in (*randoms, _gc_start(target)):
                score = evaluation.score(target, sequence)
                folded = mfe_structure(sequence)
                assert score == hamming(folded, target.structure)
                assert score == design_metrics(sequence, target.structure)["distance"]
                agreements.append(
                    (evaluation.solved(target, score), evaluation.verify(target, sequence))
                )
    assert all(solved == verified for solved, verified in agreements)
    assert any(solved for solved, _ in agreements)  # the check saw solutions, too
    assert not all(solved for solved, _ in agreements)


def test_the_rule_is_shared_with_reported_designs():
    assert design_score(3, True) == 3.0 and design_score(0, False) == math.inf
    assert is_solved(0.0) and not is_solved(1.0) and not is_solved(math.inf)
    constraints = DesignConstraints(sequence="NNNNUNNNNNNN")
    broken = DesignedSequence.measure(DESIGN, HAIRPIN.structure, constraints)
    good = DesignedSequence.measure(DESIGN, HAIRPIN.structure)
    assert (good.score, good.solved) == (0.0, True)
    assert (broken.score, broken.solved, broken.distance) == (math.inf, False, 0)
    assert good.solved == EVALUATION.solved(HAIRPIN, EVALUATION.score(HAIRPIN, DESIGN))
    with pytest.raises(ValueError, match="11 nt"):
        DesignedSequence.measure(DESIGN[:-1], HAIRPIN.structure)


# ----------------------------------------------------------------------------- judge


class _Parity:
    """A toy protocol over integers: the solution's distance to the instance."""

    def score(self, instance: int, solution: int) -> float:
        return abs(instance - solution)

    def solved(self, instance: int, score: float) -> bool:
        return score == 0

    def verify(self, instance: int, solution: int) -> bool:
        return instance == solution


def test_judge_works_for_any_protocol_and_names_the_instance():
    protocol = _Parity()
    assert isinstance(protocol, EvaluationProtocol)
    verdict = judge(protocol, 4, 4, instance_id="four")
    assert verdict == Verdict("four", 0.0, True, True, {})
    assert judge(protocol, 4, 6) == Verdict("", 2.0, False, False, {})


def test_judge_refuses_a_nan_score():
    class Broken(_Parity):
        def score(self, instance: int, solution: int) -> float:
            return math.nan

    with pytest.raises(ValueError, match="NaN"):
        judge(Broken(), 1, 1)


def test_judge_can_skip_the_metrics():
    verdict = judge(EVALUATION, HAIRPIN, DESIGN, with_metrics=False)
    assert verdict.metrics == {} and verdict.accepted


def test_a_verdict_is_json_ready():
    unsolved = judge(EVALUATION, Target("c", HAIRPIN.structure, "NNNNUNNNNNNN"), DESIGN)
    data = json.loads(json.dumps(unsolved.to_dict(), allow_nan=False))
    assert data["score"] is None and data["solved"] is False
    assert data["metrics"]["constraints"] == {"sequence": False}
    assert judge(EVALUATION, HAIRPIN, DESIGN).to_dict()["score"] == 0.0


# ----------------------------------------------------------------------------- target sets


def test_a_target_set_is_an_instance_distribution(shared_data):
    targets = TargetSet.from_file(shared_data / "rfam_taneda.txt")
    assert isinstance(targets, InstanceDistribution)
    assert isinstance(RnaDesignEvaluation(), EvaluationProtocol)
    assert targets.name == "rfam_taneda" and len(targets) == 29
    assert [t.id for t in targets.targets[:3]] == ["1", "2", "3"]  # file order


def test_fixed_is_reproducible_and_in_file_order():
    targets = TargetSet(tuple(_targets(10)))
    first = targets.fixed(4, seed=7)
    assert first == targets.fixed(4, seed=7)
    assert len({t.id for t in first}) == 4
    order = [targets.targets.index(t) for t in first]
    assert order == sorted(order)
    assert len({tuple(t.id for t in targets.fixed(4, seed)) for seed in range(10)}) > 1
    assert targets.fixed(10, seed=1) == targets.fixed(10, seed=2) == list(targets.targets)


@pytest.mark.parametrize("count", [0, -1, 11])
def test_fixed_refuses_a_count_the_set_cannot_give(count):
    with pytest.raises(ValueError, match="has 10 targets"):
        TargetSet(tuple(_targets(10))).fixed(count, seed=0)


def test_sample_follows_the_rng():
    targets = TargetSet(tuple(_targets(5)))
    draws = [targets.sample(np.random.default_rng(3)) for _ in range(2)]
    assert draws[0] == draws[1]
    rng, mirror = np.random.default_rng(11), np.random.default_rng(11)
    sampled = [targets.sample(rng) for _ in range(50)]
    assert sampled == [targets.targets[int(mirror.integers(5))] for _ in range(50)]
    assert {t.id for t in sampled} == {t.id for t in targets.targets}  # uniform: all drawn


def test_describe_is_json_ready(shared_data):
    targets = TargetSet.from_file(shared_data / "eterna100_v1.txt")
    record = json.loads(json.dumps(targets.describe(), allow_nan=False))
    assert record["kind"] == "rna-targets" and record["name"] == "eterna100_v1"
    assert record["count"] == 100 and record["source"].endswith("eterna100_v1.txt")
    assert record["length"]["min"] <= record["length"]["mean"] <= record["length"]["max"]
    assert record["sha256"] == targets_sha256(targets.targets)
    given = TargetSet(tuple(_targets(2)) + (Target("c", "(...)", "GNNNC"),))
    described = json.loads(json.dumps(given.describe()))
    assert described["constrained"] == 1 and described["source"] == ""


def test_the_hash_is_of_the_targets_not_the_file(tmp_path):
    (tmp_path / "a.txt").write_text("1\t((....))\n2\t(...)\n")
    (tmp_path / "b.txt").write_text(">1\n((....))\n\n# note\n>2\n(...)\n")
    a, b = TargetSet.from_file(tmp_path / "a.txt"), TargetSet.from_file(tmp_path / "b.txt")
    assert a.describe()["sha256"] == b.describe()["sha256"]


def test_bad_target_sets_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no targets"):
        TargetSet(())
    with pytest.raises(ValueError, match="duplicate target id 't0'"):
        TargetSet((*_targets(2), _targets(1)[0]))
    with pytest.raises(ValueError, match="must be a Target"):
        TargetSet(("((...))",))  # type: ignore[arg-type]
    with pytest.raises(InvalidStructureError, match="not found"):
        TargetSet.from_file(tmp_path / "missing.txt")


def test_importing_the_protocol_imports_neither_vienna_nor_torch():
    code = (
        "import json, sys\n"
        "import envs.instances\n"
        "print(json.dumps([m for m in ('RNA', 'torch') if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert json.loads(result.stdout) == []

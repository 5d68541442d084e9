"""Which stage of the design loop made the reported design (``found_by``)."""

from __future__ import annotations

import csv
import time

import numpy as np
import pytest

from benchmarks.report import format_report, summarize
from benchmarks.results import RESULT_FIELDS, read_results, upgrade_results
from envs.dot_bracket import Target
from envs.ensemble_search import EnsembleSearch
from envs.evaluation import (
    ENSEMBLE,
    LOCAL_IMPROVEMENT,
    POLICY,
    REFINEMENT,
    STAGES,
    evaluate_batch,
)
from envs.folding import mfe_structure
from envs.rna_design import RnaDesignConfig, RnaDesignEnv
from meta.design import DesignResult, _DesignState, design

HAIRPIN = "((((((....))))))"
SOLVED = "CCCCCCAAAAGGGGGG"
#: The outer pair cannot close (C-A): the MFE structure leaves both ends open.
OPEN_END = "CCCCCCAAAAGGGGGA"


def _outcome(sequence: str, **settings):
    config = RnaDesignConfig(**settings)
    [outcome] = evaluate_batch([(sequence, HAIRPIN, config, 7)])
    return outcome


def test_the_policys_own_design_is_the_policys():
    assert mfe_structure(OPEN_END) != HAIRPIN
    unchanged = _outcome(OPEN_END, local_improvement=0, refinement_budget=0)
    assert (unchanged.sequence, unchanged.stage) == (OPEN_END, POLICY)
    assert unchanged.distance > 0
    solved = _outcome(SOLVED, local_improvement=5, refinement_budget=200)
    assert (solved.sequence, solved.distance, solved.stage) == (SOLVED, 0, POLICY)


def test_local_improvement_and_the_walk_sign_what_they_change():
    improved = _outcome(OPEN_END, local_improvement=5, refinement_budget=0)
    assert improved.distance == 0 and improved.sequence != OPEN_END
    assert improved.stage == LOCAL_IMPROVEMENT
    walked = _outcome(OPEN_END, local_improvement=0, refinement_budget=200)
    assert walked.distance == 0 and walked.sequence != OPEN_END
    assert walked.stage == REFINEMENT


def test_an_episodes_info_carries_the_stage():
    env = RnaDesignEnv([Target("h", HAIRPIN)], RnaDesignConfig(local_improvement=5))
    env.reset(seed=0)
    done, info = False, {}
    while not done:
        _, _, done, _, info = env.step(env.action_space.sample())
    assert info["stage"] in STAGES
    assert info["stage"] in (POLICY, LOCAL_IMPROVEMENT, REFINEMENT)  # never the ensemble's


def _state(num_solutions: int = 1) -> tuple[DesignResult, _DesignState]:
    result = DesignResult("t", HAIRPIN)
    return result, _DesignState(result, time.monotonic(), 60.0, num_solutions, None, None)


def _info(sequence: str, stage: str) -> dict:
    structure = mfe_structure(sequence)
    distance = sum(a != b for a, b in zip(structure, HAIRPIN))
    return {"sequence": sequence, "structure": structure, "distance": distance, "folds": 1,
            "stage": stage}  # fmt: skip


def test_the_result_keeps_the_stage_of_its_design():
    result, state = _state()
    state.record(_info(OPEN_END, POLICY))
    assert (result.sequence, result.found_by) == (OPEN_END, POLICY)
    state.record(_info(SOLVED, LOCAL_IMPROVEMENT))
    assert (result.sequence, result.solved, result.found_by) == (SOLVED, True, LOCAL_IMPROVEMENT)
    state.record(_info("GGGGGGAAAACCCCCC", POLICY))  # another solution: not reported
    assert result.found_by == LOCAL_IMPROVEMENT
    legacy = _info(OPEN_END, POLICY)
    del legacy["stage"]  # an environment that does not say: the policy's
    fresh, state = _state()
    state.record(legacy)
    assert fresh.found_by == POLICY


def test_the_ensemble_stage_signs_its_designs():
    result, state = _state()
    state.start = state._turn_end = time.monotonic() - 1.0  # the "policy" took 1 s
    state.add_search(EnsembleSearch(HAIRPIN, np.random.default_rng(0), starts=1), 0.5)
    state.record(_info(OPEN_END, POLICY))
    state.refine_turn()  # its targeted start folds into the hairpin
    assert state.search.solved
    assert result.solved and result.sequence != OPEN_END and result.found_by == ENSEMBLE


def test_design_reports_the_stage_and_the_ranked_solutions_own():
    result = design(Target("h", HAIRPIN), time_limit=20, seed=1, ensemble_share=0)
    assert result.solved and result.found_by in (POLICY, LOCAL_IMPROVEMENT, REFINEMENT)
    assert result.to_dict()["found_by"] == result.found_by
    several = design(Target("h", HAIRPIN), time_limit=20, seed=1, num_solutions=3, metrics=True)
    assert several.solved and several.found_by in STAGES


def _row(target_id: str, found_by: str, solved: bool = True) -> dict[str, str]:
    row = dict.fromkeys(RESULT_FIELDS, "")
    sequence = SOLVED if solved else OPEN_END
    row.update(
        dataset="d", target_id=target_id, length="16", method="meta-learna-adapt", run="0",
        seed="1", time_limit="60", solved=str(int(solved)), time_to_solve="1.5" if solved else "",
        best_distance="0" if solved else "2", sequence=sequence, target=HAIRPIN,
        mfe_structure=mfe_structure(sequence), status="finished", found_by=found_by,
    )  # fmt: skip
    return row


def test_the_report_counts_solved_designs_by_stage():
    rows = [_row("1", POLICY), _row("2", ENSEMBLE), _row("3", ENSEMBLE), _row("4", POLICY, False)]
    [group] = summarize(rows)["groups"]
    assert group["solved_by_stage"] == {ENSEMBLE: 2, POLICY: 1}  # the unsolved one is not
    note = "d/meta-learna-adapt: solved designs by the stage that made them: ensemble 2, policy 1"
    assert note in format_report(summarize(rows))
    [unrecorded] = summarize([_row("1", "")])["groups"]
    assert unrecorded["solved_by_stage"] == {}
    assert "stage that made them" not in format_report(summarize([_row("1", "")]))


def test_results_without_the_column_are_read_and_upgraded(tmp_path):
    before = [name for name in RESULT_FIELDS if name != "found_by"]
    path = tmp_path / "results.csv"
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=before, lineterminator="\n")
        writer.writeheader()
        writer.writerow({name: _row("1", POLICY)[name] for name in before})
    [read] = read_results(path)
    assert read["found_by"] == "" and read["target_id"] == "1"
    assert upgrade_results(path)
    assert path.read_text().splitlines()[0] == ",".join(RESULT_FIELDS)
    assert read_results(path) == [read]


@pytest.mark.parametrize("stage", STAGES)
def test_stage_names_are_one_word_for_csv_and_text(stage):
    assert stage.isidentifier() and stage.islower()

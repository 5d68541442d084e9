"""Local improvement's orders: "screened" (the default), "energy", "enumeration"."""

import math
import time

import numpy as np
import pytest

from envs.constraints import unit_index, unit_options
from envs.evaluation import evaluate_design, local_improvement
from envs.folding import hamming, mfe_structure, mismatched_sites
from envs.rna_design import RnaDesignConfig
from meta.config import LEARNA

BUDGET = 64


def _assignments(structure: str, folded: str, gu_pairs: bool) -> int:
    """How many assignments the mismatched sites' units have."""
    units, options = unit_options(structure, None, gu_pairs)
    unit_of = unit_index(units, len(structure))
    chosen = {int(unit_of[s]) for s in mismatched_sites(folded, structure)}
    return math.prod(len(options[k]) for k in chosen)


def _near_misses(count: int, seed: int, gu_pairs: bool) -> list[tuple[str, str, str]]:
    """``(design, target, folded)``: a designable target's solution with 1-2 sites changed,
    kept when it folds 1-5 sites off and all its assignments fit the budget."""
    rng = np.random.default_rng(seed)
    cases: list[tuple[str, str, str]] = []
    while len(cases) < count:
        solution = "".join(rng.choice(list("ACGU"), int(rng.integers(30, 70))))
        target = mfe_structure(solution)
        if "(" not in target:
            continue
        chars = list(solution)
        for site in rng.choice(len(chars), int(rng.integers(1, 3)), replace=False):
            chars[site] = "ACGU"[(("ACGU".index(chars[site])) + int(rng.integers(1, 4))) % 4]
        design = "".join(chars)
        folded = mfe_structure(design)
        if 0 < hamming(folded, target) <= 5 and _assignments(target, folded, gu_pairs) <= BUDGET:
            cases.append((design, target, folded))
    return cases


@pytest.mark.parametrize("gu_pairs", [False, True])
def test_energy_order_reaches_enumerations_distance_with_fewer_folds(gu_pairs):
    ranked_folds = enumerated_folds = 0
    for design, target, folded in _near_misses(40, 11 + gu_pairs, gu_pairs):
        outcomes = [
            local_improvement(
                design, target, folded, np.random.default_rng(0), BUDGET, gu_pairs, order=order
            )
            for order in ("energy", "enumeration")
        ]
        ranked, enumerated = outcomes
        # All assignments fit the budget: both try the same candidates, one by one
        # until a solution, so they reach the same distance.
        assert ranked.distance == enumerated.distance <= hamming(folded, target)
        for outcome in outcomes:
            assert outcome.folds <= BUDGET
            assert mfe_structure(outcome.sequence) == outcome.structure
            assert hamming(outcome.structure, target) == outcome.distance
        if ranked.distance == 0:  # otherwise both tried every candidate
            ranked_folds += ranked.folds
            enumerated_folds += enumerated.folds
        else:
            assert ranked.folds == enumerated.folds
    # The ranking puts the solutions first: the same solutions for fewer folds
    # (50 against 84 and 68 when this test was written).
    assert ranked_folds < 0.85 * enumerated_folds


@pytest.mark.parametrize("order", ["energy", "enumeration"])
def test_more_assignments_than_the_budget_fold_at_most_the_budget(order):
    structure = "((((...))))" * 4  # 16 pairs, none formed by the all-A design
    sequence = "A" * len(structure)
    folded = mfe_structure(sequence)
    outcome = local_improvement(
        sequence, structure, folded, np.random.default_rng(0), budget=12, order=order
    )
    assert 0 < outcome.folds <= 12
    assert outcome.distance <= hamming(folded, structure)
    assert hamming(mfe_structure(outcome.sequence), structure) == outcome.distance


@pytest.mark.parametrize("order", ["energy", "enumeration"])
def test_nothing_is_folded_past_the_deadline_or_for_a_solution(order):
    design, target, folded = _near_misses(1, 5, False)[0]
    late = local_improvement(
        design, target, folded, np.random.default_rng(0), BUDGET,
        deadline=time.monotonic() - 1, order=order,
    )  # fmt: skip
    assert (late.sequence, late.folds) == (design, 0)
    solution = local_improvement(
        design, folded, folded, np.random.default_rng(0), BUDGET, order=order
    )  # the design already folds into this "target"
    assert (solution.sequence, solution.distance, solution.folds) == (design, 0, 0)


def test_the_configuration_chooses_the_order_and_refuses_unknown_ones():
    design, target, folded = _near_misses(1, 7, False)[0]
    seen = {
        order: evaluate_design(
            design, target, RnaDesignConfig(local_improvement_order=order), seed=3
        )
        for order in ("energy", "screened", "enumeration")
    }
    expected = {
        order: local_improvement(
            design, target, folded, np.random.default_rng(3), BUDGET, order=order
        )
        for order in seen
    }
    for order, outcome in seen.items():
        assert outcome.sequence == expected[order].sequence
        assert outcome.folds == 1 + expected[order].folds
    assert RnaDesignConfig().local_improvement_order == "screened"
    with pytest.raises(ValueError, match="local_improvement_order"):
        RnaDesignConfig(local_improvement_order="random")
    with pytest.raises(ValueError, match="local_improvement_order"):
        LEARNA.updated({"local_improvement_order": "best"})
    with pytest.raises(ValueError, match="order must be one of"):
        local_improvement(design, target, folded, np.random.default_rng(0), 8, order="best")


@pytest.mark.parametrize("gu_pairs", [False, True])
def test_screening_keeps_every_solution_and_folds_less_without_one(gu_pairs):
    saved = unsolved = 0
    for design, target, folded in _near_misses(40, 21 + gu_pairs, gu_pairs):
        ranked, screened = (
            local_improvement(
                design, target, folded, np.random.default_rng(0), BUDGET, gu_pairs, order=order
            )
            for order in ("energy", "screened")
        )
        if ranked.distance == 0:
            # The same order up to the solution, which no competitor can rule out.
            assert (screened.sequence, screened.folds) == (ranked.sequence, ranked.folds)
        else:
            unsolved += 1
            assert screened.folds <= ranked.folds
            assert ranked.distance <= screened.distance <= hamming(folded, target)
            saved += ranked.folds - screened.folds
        assert mfe_structure(screened.sequence) == screened.structure
    assert unsolved > 0 and saved > 0

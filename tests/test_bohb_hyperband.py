from __future__ import annotations

import math

import pytest

from autorl.bohb.hyperband import (
    SuccessiveHalving,
    bracket_plan,
    budgets,
    max_budget_plan,
    num_budgets,
    planned_budget,
)


@pytest.mark.parametrize(
    ("low", "high", "eta", "expected"),
    [
        (1, 243, 3, (1, 3, 9, 27, 81, 243)),  # truncating log(243)/log(3) would give 5 rungs
        (9, 729, 3, (9, 27, 81, 243, 729)),
        (1, 8, 2, (1, 2, 4, 8)),
        (1, 1000, 10, (1, 10, 100, 1000)),
        (5, 5, 3, (5,)),
        (3, 100, 3, (100 / 27, 100 / 9, 100 / 3, 100)),  # log3(33.3) = 3.19 rounds to 3
        (1, 100, 3, (100 / 81, 100 / 27, 100 / 9, 100 / 3, 100)),  # 4.19 rounds to 4
        (1, 16, 4, (1, 4, 16)),
    ],
)
def test_budgets(low, high, eta, expected):
    got = budgets(low, high, eta)
    assert got == pytest.approx(expected)
    assert got[-1] == high
    assert num_budgets(low, high, eta) == len(expected)


@pytest.mark.parametrize(
    ("low", "high", "eta"), [(0, 10, 3), (-1, 10, 3), (10, 1, 3), (1, 10, 1), (1, math.inf, 3)]
)
def test_budgets_reject_bad_arguments(low, high, eta):
    with pytest.raises(ValueError):
        budgets(low, high, eta)


def test_brackets_for_1_243_eta3_use_the_papers_ceil():
    b = budgets(1, 243, 3)
    expected = {
        5: (243, 81, 27, 9, 3, 1),
        4: (98, 32, 10, 3, 1),  # ceil(6/5 * 81) = 98 (hpbandster's floor gives 81)
        3: (41, 13, 4, 1),
        2: (18, 6, 2),
        1: (9, 3),
        0: (6,),
    }
    for iteration in range(12):  # two full cycles
        plan = bracket_plan(iteration, b, 3, "paper")
        assert plan.s == 5 - iteration % 6
        assert plan.sizes == expected[plan.s]
        assert plan.budgets == b[5 - plan.s :]
        assert plan.iteration == iteration


def test_brackets_for_1_243_eta3_hpbandster_floor():
    b = budgets(1, 243, 3)
    sizes = [bracket_plan(i, b, 3).sizes for i in range(6)]  # hpbandster is the default
    assert sizes == [
        (243, 81, 27, 9, 3, 1),
        (81, 27, 9, 3, 1),  # floor(6/5) * 81
        (27, 9, 3, 1),
        (18, 6, 2),
        (9, 3),
        (6,),
    ]


def test_brackets_for_counting_ones_budgets():
    b = budgets(9, 729, 3)
    sizes = [bracket_plan(i, b, 3, "paper").sizes for i in range(5)]
    assert sizes == [(81, 27, 9, 3, 1), (34, 11, 3, 1), (15, 5, 1), (8, 2), (5,)]
    assert sum(bracket_plan(i, b, 3, "paper").num_trials for i in range(5)) == 206
    floor = [bracket_plan(i, b, 3, "hpbandster").sizes for i in range(5)]
    assert floor == [(81, 27, 9, 3, 1), (27, 9, 3, 1), (9, 3, 1), (6, 2), (5,)]
    # The figures: 8 iterations cost 33.0 (hpbandster) and 37.3 (paper) x 729.
    assert planned_budget(8, b, 3) == 33 * 729
    assert planned_budget(8, b, 3, "paper") / 729 == pytest.approx(37.296, abs=1e-3)
    with pytest.raises(ValueError, match="bracket rule"):
        bracket_plan(0, b, 3, "ceil")


def test_brackets_with_eta_2():
    b = budgets(1, 8, 2)
    assert [bracket_plan(i, b, 2, "paper").sizes for i in range(4)] == [
        (8, 4, 2, 1),
        (6, 3, 1),  # ceil(4/3 * 4) = 6
        (4, 2),
        (4,),
    ]


def test_random_search_plan_uses_only_the_largest_budget():
    plan = max_budget_plan(3, budgets(1, 27, 3), 3)
    assert plan.sizes == (4,)
    assert plan.budgets == (27,)


def _run_rung(bracket, losses):
    trials = []
    while (trial := bracket.next_trial(lambda sh: {"i": len(sh.configs)})) is not None:
        trials.append(trial)
    for trial in trials:
        bracket.record(trial, losses(trial))
    return trials


def test_successive_halving_promotes_best_third_with_finite_loss():
    bracket = SuccessiveHalving(bracket_plan(0, budgets(1, 9, 3), 3))  # sizes (9, 3, 1)
    assert bracket.plan.sizes == (9, 3, 1)

    # Loss = config index, but the two best (0 and 1) fail.
    def loss(trial):
        return math.inf if trial.config_id < 2 else float(trial.config_id)

    first = _run_rung(bracket, loss)
    assert len(first) == 9 and {t.budget for t in first} == {1}
    second = _run_rung(bracket, loss)
    assert [t.config_id for t in second] == [2, 3, 4]
    assert {t.budget for t in second} == {3} and {t.rung for t in second} == {1}
    third = _run_rung(bracket, loss)
    assert [t.config_id for t in third] == [2]
    assert bracket.finished


def test_rung_is_a_barrier():
    bracket = SuccessiveHalving(bracket_plan(0, budgets(1, 3, 3), 3))  # sizes (3, 1)
    trials = [bracket.next_trial(lambda sh: {"i": len(sh.configs)}) for _ in range(3)]
    assert bracket.next_trial(lambda sh: {}) is None  # all started, none finished
    bracket.record(trials[0], 1.0)
    bracket.record(trials[1], 0.5)
    assert bracket.next_trial(lambda sh: {}) is None  # still waiting for the last one
    bracket.record(trials[2], 2.0)
    promoted = bracket.next_trial(lambda sh: {})
    assert promoted.config_id == 1 and promoted.rung == 1


def test_fewer_finite_results_than_slots_promote_fewer():
    bracket = SuccessiveHalving(bracket_plan(0, budgets(1, 9, 3), 3))
    _run_rung(bracket, lambda t: 1.0 if t.config_id == 4 else math.nan)
    second = _run_rung(bracket, lambda t: 1.0)
    assert [t.config_id for t in second] == [4]


def test_all_failed_rung_ends_the_bracket():
    bracket = SuccessiveHalving(bracket_plan(0, budgets(1, 9, 3), 3))
    _run_rung(bracket, lambda t: math.inf)
    assert bracket.finished
    assert bracket.next_trial(lambda sh: {}) is None


def test_record_rejects_foreign_trials():
    bracket = SuccessiveHalving(bracket_plan(0, budgets(1, 3, 3), 3))
    trial = bracket.next_trial(lambda sh: {})
    bracket.record(trial, 1.0)
    with pytest.raises(ValueError):
        bracket.record(trial, 1.0)

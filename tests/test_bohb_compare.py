from __future__ import annotations

import importlib.util

import pytest

from autorl.bohb.compare import available_adapters, optuna_distributions
from autorl.spaces import learna_space
from benchmarks.optimizers import (
    BudgetExhausted,
    Evaluator,
    check_goals,
    compare,
    format_table,
    incumbent_regrets,
    summarize,
)
from benchmarks.synthetic import counting_ones_problem, mf_hartmann_problem

PROBLEM = counting_ones_problem(2, 2)
BEST = {"c0": 1, "c1": 1, "x0": 1.0, "x1": 1.0}
WORST = {"c0": 0, "c1": 0, "x0": 0.0, "x1": 0.0}


def worst_then_best(problem, evaluate, seed):
    while not evaluate.exhausted:
        evaluate(WORST if evaluate.used < 0.5 * evaluate.total_budget else BEST, 729)


def broken(problem, evaluate, seed):
    evaluate(WORST, 9)
    raise RuntimeError("optimizer bug")


def test_evaluator_counts_budget_and_refuses_to_overspend():
    evaluate = Evaluator(PROBLEM, total_budget=20, seed=0)
    evaluate(WORST, 9)
    evaluate(WORST, 9)
    assert not evaluate.exhausted
    evaluate(BEST, 9)
    assert evaluate.exhausted and evaluate.used == 27
    with pytest.raises(BudgetExhausted):
        evaluate(BEST, 9)
    assert [o.new_config for o in evaluate.observations] == [True, False, True]


def test_anytime_regret_uses_the_incumbent_on_the_largest_budget():
    evaluate = Evaluator(PROBLEM, total_budget=10 * 729, seed=0)
    evaluate(BEST, 9)  # best loss, but on a small budget
    evaluate(WORST, 729)  # the largest budget so far wins
    regrets = incumbent_regrets(PROBLEM, evaluate.observations, 10 * 729)
    assert regrets[0.1] == pytest.approx(4.0)  # the worst config: regret 4
    assert regrets[1.0] == pytest.approx(4.0)


def test_compare_summarizes_and_checks_goals():
    records = compare([PROBLEM], {"good": worst_then_best, "bad": broken}, seeds=[0, 1], budget=4)
    rows = summarize(records)
    good = next(r for r in rows if r.optimizer == "good")
    assert good.regrets[0.1] == pytest.approx(4.0) and good.regrets[1.0] == 0.0
    bad = next(r for r in rows if r.optimizer == "bad")
    assert bad.failures and "optimizer bug" in bad.failures[0]
    table = format_table(rows)
    assert "| counting-ones-2+2 | good | 2 |" in table and "optimizer bug" in table
    goals = check_goals(rows, "good", beat=("bad",), match={}, max_overhead_ms=50)
    assert goals[0] == (True, "counting-ones-2+2: good 0.0000 < bad 4.0000")
    assert not goals[1][0]  # fewer than 150 observations: no overhead measured (nan)


@pytest.mark.parametrize("name", ["random", "hyperband", "bohb", "optuna"])
def test_adapters_spend_the_budget(name):
    adapters = available_adapters()
    if name not in adapters:
        pytest.skip(f"{name} is not installed")
    for problem in (counting_ones_problem(2, 2), mf_hartmann_problem(3)):
        records = compare([problem], {name: adapters[name]}, seeds=[0], budget=5)
        [record] = records
        assert record.error is None
        assert record.budget_used >= 5 * problem.max_budget
        assert record.regrets[1.0] >= 0


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("smac") is None, reason="smac not installed")
def test_smac_adapter_spends_the_budget():
    [record] = compare(
        [counting_ones_problem(2, 2)], {"smac": available_adapters()["smac"]}, seeds=[0], budget=3
    )
    assert record.error is None and record.budget_used >= 3 * 729


@pytest.mark.skipif(importlib.util.find_spec("optuna") is None, reason="optuna not installed")
def test_optuna_distributions_refuse_conditional_spaces():
    with pytest.raises(ValueError, match="conditions"):
        optuna_distributions(learna_space())

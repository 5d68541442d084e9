"""Min-sum variable elimination (envs/min_sum.py) against brute force."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest

from envs.min_sum import (
    Factor,
    anchored_cost,
    anchored_factors,
    elimination_width,
    minimise,
)


def _random_problem(rng: np.random.Generator) -> tuple[list[int], list[Factor]]:
    count = int(rng.integers(1, 7))
    sizes = [int(rng.integers(1, 5)) for _ in range(count)]
    factors = []
    for _ in range(int(rng.integers(1, 5))):
        width = int(rng.integers(1, min(count, 3) + 1))
        variables = tuple(int(v) for v in rng.choice(count, size=width, replace=False))
        factors.append(Factor(variables, rng.normal(size=[sizes[v] for v in variables])))
    return sizes, factors


def _total(factors: list[Factor], choices: tuple[int, ...] | list[int]) -> float:
    return float(sum(f.table[tuple(choices[v] for v in f.variables)] for f in factors))


def _value_of(terms: list[Factor], count: int) -> Callable[[dict[int, int]], float]:
    """The sum of ``terms`` at choice 0 but for the ``changed`` variables."""
    return lambda changed: _total(terms, [changed.get(v, 0) for v in range(count)])


def test_the_minimum_and_its_choices_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        sizes, factors = _random_problem(rng)
        every = itertools.product(*(range(n) for n in sizes))
        expected = min(_total(factors, choices) for choices in every)
        found = minimise(factors, sizes)
        assert found is not None
        minimum, choices = found
        assert minimum == pytest.approx(expected, abs=1e-9)
        assert _total(factors, choices) == pytest.approx(minimum, abs=1e-9)


def test_anchored_factors_rebuild_a_sum_from_its_values() -> None:
    # Only the value function and the supports are known, not the terms.
    rng = np.random.default_rng(1)
    for _ in range(200):
        sizes, terms = _random_problem(rng)

        value = _value_of(terms, len(sizes))

        supports = [t.variables for t in terms]
        factors, computed = anchored_factors(value, supports, sizes)
        assert computed == anchored_cost(supports, sizes)
        for choices in itertools.product(*(range(n) for n in sizes)):
            assert _total(factors, choices) == pytest.approx(_total(terms, choices), abs=1e-9)
        found = minimise(factors, sizes)
        assert found is not None
        every = itertools.product(*(range(n) for n in sizes))
        assert found[0] == pytest.approx(min(_total(terms, c) for c in every), abs=1e-9)


def test_a_wrong_support_is_not_rebuilt() -> None:
    # The premise matters: a term over (0, 1) declared as two terms (0,) and (1,) is lost.
    sizes = [2, 2]
    term = Factor((0, 1), np.array([[0.0, 0.0], [0.0, -5.0]]))

    def value(changed: dict[int, int]) -> float:
        return _total([term], [changed.get(0, 0), changed.get(1, 0)])

    factors, _ = anchored_factors(value, [(0,), (1,)], sizes)
    assert _total(factors, [1, 1]) != pytest.approx(_total([term], [1, 1]))


def test_a_chain_is_eliminated_in_linear_tables() -> None:
    # 30 variables of 6 choices in a chain: 6**30 assignments, tables of 36 entries.
    sizes = [6] * 30
    rng = np.random.default_rng(2)
    factors = [Factor((k, k + 1), rng.normal(size=(6, 6))) for k in range(29)]
    assert elimination_width([f.variables for f in factors], sizes) == 36
    found = minimise(factors, sizes)
    assert found is not None
    minimum, choices = found
    assert _total(factors, choices) == pytest.approx(minimum)
    # dynamic programming along the chain gives the same minimum
    best = np.zeros(6)
    for factor in factors:
        best = np.min(best[:, None] + factor.table, axis=0)
    assert minimum == pytest.approx(float(best.min()))


def test_limits_and_bad_tables() -> None:
    sizes = [4, 4, 4]
    factors = [Factor((0, 1, 2), np.zeros((4, 4, 4)))]
    assert minimise(factors, sizes, max_table=63) is None
    assert minimise(factors, sizes, max_table=64) is not None
    unused = minimise([Factor((0,), np.array([3.0, 1.0]))], [2, 5])
    assert unused == (1.0, [1, 0])  # a variable no factor mentions takes choice 0
    with pytest.raises(ValueError, match=r"factor over \(0, 1\) has shape \(4, 3\)"):
        minimise([Factor((0, 1), np.zeros((4, 3)))], [4, 4])

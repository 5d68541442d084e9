"""Cheap multi-fidelity benchmark problems for hyperparameter optimizers.

- Counting ones (Falkner et al., BOHB, ICML 2018): ``n_cat`` binary categorical parameters
  and ``n_cont`` floats in [0, 1]. On budget ``b`` the loss is
  ``-(sum of the categoricals + sum over the floats of the mean of b Bernoulli(x_j) draws)``;
  budgets 9 ... 729 with eta 3; the optimum is ``-(n_cat + n_cont)``. The noise-free value
  replaces each mean by its expectation ``x_j``.
- MF-Hartmann 3 and 6 (as in mfpbench): fidelity ``z`` in 3 ... 100, ``s = ln z / ln 100``,
  ``alpha' = alpha - bias * (1 - s)`` and additive noise ``|N(0, 1)| * noise * (1 - s)``,
  (bias, noise) = (0.5, 0.1). At ``z = 100`` the value is the plain Hartmann function, whose
  minima are -3.86278 (3-d) and -3.32237 (6-d).

Every function takes the configuration as a dict and draws its noise from the given seed,
so an evaluation is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from ConfigSpace import Categorical, ConfigurationSpace, Float


def counting_ones_space(n_cat: int, n_cont: int, seed: int | None = None) -> ConfigurationSpace:
    """The counting-ones space: ``c0..`` categoricals in {0, 1} and ``x0..`` floats in [0, 1]."""
    if n_cat < 0 or n_cont < 0 or n_cat + n_cont == 0:
        raise ValueError(
            f"need n_cat, n_cont >= 0 and at least one parameter, got {n_cat}, {n_cont}"
        )
    space = ConfigurationSpace(name=f"counting-ones-{n_cat}+{n_cont}", seed=seed)
    space.add([Categorical(f"c{i}", [0, 1]) for i in range(n_cat)])
    space.add([Float(f"x{i}", (0.0, 1.0)) for i in range(n_cont)])
    return space


def _counting_parts(config: Mapping[str, Any]) -> tuple[float, np.ndarray]:
    cats = sum(int(v) for k, v in config.items() if k.startswith("c"))
    conts = np.array([float(v) for k, v in sorted(config.items()) if k.startswith("x")])
    return float(cats), conts


def counting_ones(config: Mapping[str, Any], budget: float, seed: int) -> float:
    """The noisy counting-ones loss on ``budget`` Bernoulli draws per float parameter."""
    if budget < 1:
        raise ValueError(f"counting ones needs a budget >= 1 draw, got {budget}")
    cats, probs = _counting_parts(config)
    draws = int(round(budget))
    rng = np.random.default_rng(seed)
    means = rng.binomial(draws, probs) / draws if probs.size else np.zeros(0)
    return -(cats + float(means.sum()))


def counting_ones_true(config: Mapping[str, Any]) -> float:
    """The noise-free counting-ones value (the expectation over the draws)."""
    cats, probs = _counting_parts(config)
    return -(cats + float(probs.sum()))


_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array(
    [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
)
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
HARTMANN = {
    3: (_H3_A, _H3_P, -3.86278, (0.114614, 0.555649, 0.852547)),
    6: (_H6_A, _H6_P, -3.32237, (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)),
}
MF_HARTMANN_FIDELITY = (3.0, 100.0)


def hartmann_space(dims: int, seed: int | None = None) -> ConfigurationSpace:
    """The MF-Hartmann space: ``X_0 .. X_{d-1}`` in [0, 1]."""
    if dims not in HARTMANN:
        raise ValueError(f"Hartmann is defined for 3 or 6 dimensions, got {dims}")
    space = ConfigurationSpace(name=f"mf-hartmann-{dims}", seed=seed)
    space.add([Float(f"X_{i}", (0.0, 1.0)) for i in range(dims)])
    return space


def _hartmann_point(config: Mapping[str, Any], dims: int) -> np.ndarray:
    try:
        return np.array([float(config[f"X_{i}"]) for i in range(dims)])
    except KeyError as missing:
        raise ValueError(f"MF-Hartmann-{dims} config lacks {missing}") from None


def mf_hartmann(
    config: Mapping[str, Any],
    budget: float,
    seed: int,
    *,
    dims: int,
    bias: float = 0.5,
    noise: float = 0.1,
) -> float:
    """The MF-Hartmann value on fidelity ``budget`` (``z`` in [3, 100], 100 = exact)."""
    low, high = MF_HARTMANN_FIDELITY
    if not low - 1e-9 <= budget <= high + 1e-9:
        raise ValueError(f"MF-Hartmann fidelity must be in [{low:g}, {high:g}], got {budget}")
    a, p, _, _ = HARTMANN[dims]
    x = _hartmann_point(config, dims)
    s = min(1.0, math.log(budget) / math.log(high))
    alpha = _ALPHA - bias * (1 - s)
    value = -float(np.sum(alpha * np.exp(-np.sum(a * (x - p) ** 2, axis=1))))
    rng = np.random.default_rng(seed)
    return value + abs(float(rng.normal())) * noise * (1 - s)


def hartmann_true(config: Mapping[str, Any], dims: int) -> float:
    """The noise-free Hartmann value (MF-Hartmann at ``z = 100``)."""
    return mf_hartmann(config, MF_HARTMANN_FIDELITY[1], 0, dims=dims)


@dataclass(frozen=True)
class SyntheticProblem:
    """A benchmark problem: space, noisy objective, noise-free value and optimum.

    Attributes:
        name: Short name (``counting-ones-4+4``, ``mf-hartmann-6``).
        make_space: Builds the ConfigSpace space (optionally seeded).
        evaluate: ``evaluate(config, budget, seed) -> loss``, noisy, lower is better.
        true_value: The noise-free value of a configuration on the full budget.
        optimum: The best possible ``true_value``.
        min_budget: The smallest budget.
        max_budget: The largest budget.
        eta: The halving rate the problem is run with.
    """

    name: str
    make_space: Callable[[int | None], ConfigurationSpace]
    evaluate: Callable[[Mapping[str, Any], float, int], float]
    true_value: Callable[[Mapping[str, Any]], float]
    optimum: float
    min_budget: float
    max_budget: float
    eta: float = 3.0

    def regret(self, config: Mapping[str, Any]) -> float:
        """The noise-free regret ``true_value(config) - optimum`` (>= 0 up to rounding)."""
        return max(0.0, self.true_value(config) - self.optimum)


@dataclass(frozen=True)
class _CountingOnes:
    n_cat: int
    n_cont: int

    def space(self, seed: int | None = None) -> ConfigurationSpace:
        return counting_ones_space(self.n_cat, self.n_cont, seed)


@dataclass(frozen=True)
class _Hartmann:
    dims: int

    def space(self, seed: int | None = None) -> ConfigurationSpace:
        return hartmann_space(self.dims, seed)

    def evaluate(self, config: Mapping[str, Any], budget: float, seed: int) -> float:
        return mf_hartmann(config, budget, seed, dims=self.dims)

    def true_value(self, config: Mapping[str, Any]) -> float:
        return hartmann_true(config, self.dims)


def counting_ones_problem(n_cat: int, n_cont: int) -> SyntheticProblem:
    """Counting ones with ``n_cat`` + ``n_cont`` parameters, budgets 9 ... 729."""
    return SyntheticProblem(
        f"counting-ones-{n_cat}+{n_cont}",
        _CountingOnes(n_cat, n_cont).space,
        counting_ones,
        counting_ones_true,
        -float(n_cat + n_cont),
        9.0,
        729.0,
    )


def mf_hartmann_problem(dims: int) -> SyntheticProblem:
    """MF-Hartmann with 3 or 6 dimensions, fidelity 3 ... 100."""
    problem = _Hartmann(dims)
    problem.space()  # validates dims
    return SyntheticProblem(
        f"mf-hartmann-{dims}",
        problem.space,
        problem.evaluate,
        problem.true_value,
        HARTMANN[dims][2],
        *MF_HARTMANN_FIDELITY,
    )

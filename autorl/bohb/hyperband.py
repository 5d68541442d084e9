"""Hyperband's budgets and brackets, and successive halving within one bracket.

A run has ``K`` budgets ``max * eta**-(K-1), ..., max / eta, max`` (the *rungs*). Hyperband
iteration ``i`` runs bracket ``s = K - 1 - (i mod K)``: it starts ``n0`` configurations on
rung ``K-1-s`` and successive halving promotes the best ``1/eta`` of each rung to the next,
up to ``max``. A rung is a barrier: nothing is promoted before all its trials finished.

Two rules for ``n0`` (:data:`BRACKET_RULES`):

- ``hpbandster`` (the default, the reference implementation's):
  ``floor(K / (s+1)) * eta**s``; 8 iterations on 9 ... 729 cost 33 full evaluations.
- ``paper`` (Li et al. 2018): ``ceil(K / (s+1) * eta**s)``; the same 8 iterations cost
  37.3 full evaluations (more configurations in the middle brackets).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_EPS = 1e-9
#: How a bracket's first rung is sized (see the module docstring).
BRACKET_RULES = ("hpbandster", "paper")


def num_budgets(min_budget: float, max_budget: float, eta: float) -> int:
    """Number of rungs K, rounded (not truncated): (1, 243, 3) gives 6, not 5.

    Raises:
        ValueError: the budgets or eta are out of range.
    """
    if not (math.isfinite(min_budget) and min_budget > 0):
        raise ValueError(f"min_budget must be a positive number, got {min_budget}")
    if not (math.isfinite(max_budget) and max_budget >= min_budget):
        raise ValueError(f"max_budget must be >= min_budget ({min_budget}), got {max_budget}")
    if not (math.isfinite(eta) and eta > 1):
        raise ValueError(f"eta must be > 1, got {eta}")
    return round(math.log(max_budget / min_budget) / math.log(eta)) + 1


def budgets(min_budget: float, max_budget: float, eta: float) -> tuple[float, ...]:
    """The rung budgets ``max * eta**-(K-1) ... max`` (ascending; the last is exactly max).

    With rounding the smallest budget can differ slightly from ``min_budget``: (3, 100, 3)
    gives 3.70, 11.1, 33.3, 100.

    Examples:
        >>> budgets(1, 243, 3)
        (1.0, 3.0, 9.0, 27.0, 81.0, 243.0)
    """
    k = num_budgets(min_budget, max_budget, eta)
    values = [max_budget * eta ** -(k - 1 - i) for i in range(k)]
    # Tidy floating-point noise such as 8.999999999 -> 9.0.
    return tuple(float(round(v)) if abs(v - round(v)) < 1e-9 * max(1, v) else v for v in values)


@dataclass(frozen=True)
class BracketPlan:
    """The shape of one successive-halving bracket.

    Attributes:
        iteration: The Hyperband iteration (0-based) that runs this bracket.
        s: The bracket index: ``s + 1`` rungs, the first on budget ``max * eta**-s``.
        sizes: Configurations evaluated on each rung.
        budgets: The budget of each rung.
    """

    iteration: int
    s: int
    sizes: tuple[int, ...]
    budgets: tuple[float, ...]

    @property
    def total_budget(self) -> float:
        """The sum of the budgets of all planned trials."""
        return sum(n * b for n, b in zip(self.sizes, self.budgets, strict=True))

    @property
    def num_trials(self) -> int:
        """The number of planned trials (every rung, all promotions)."""
        return sum(self.sizes)


def bracket_plan(
    iteration: int, all_budgets: tuple[float, ...], eta: float, rule: str = "hpbandster"
) -> BracketPlan:
    """The bracket that Hyperband iteration ``iteration`` runs.

    Args:
        iteration: 0-based iteration; brackets cycle ``s = K-1, ..., 0``.
        all_budgets: The rung budgets from :func:`budgets`.
        eta: The halving rate.
        rule: ``hpbandster`` (floor) or ``paper`` (ceil); see :data:`BRACKET_RULES`.

    Examples:
        >>> bracket_plan(1, budgets(1, 243, 3), 3, "paper").sizes
        (98, 32, 10, 3, 1)
        >>> bracket_plan(1, budgets(1, 243, 3), 3).sizes
        (81, 27, 9, 3, 1)
    """
    if iteration < 0:
        raise ValueError(f"iteration must be >= 0, got {iteration}")
    if rule not in BRACKET_RULES:
        raise ValueError(f"unknown bracket rule {rule!r}; choose {' or '.join(BRACKET_RULES)}")
    k = len(all_budgets)
    s = k - 1 - iteration % k
    if rule == "paper":
        n0 = math.ceil(k / (s + 1) * eta**s - _EPS)
    else:
        n0 = int(k // (s + 1) * eta**s + _EPS)
    sizes = tuple(max(1, math.floor(n0 * eta**-i + _EPS)) for i in range(s + 1))
    return BracketPlan(iteration, s, sizes, tuple(all_budgets[k - 1 - s :]))


def max_budget_plan(
    iteration: int, all_budgets: tuple[float, ...], eta: float, rule: str = "hpbandster"
) -> BracketPlan:
    """Random search's "bracket": ``K`` configurations straight on the largest budget."""
    return BracketPlan(iteration, 0, (len(all_budgets),), (all_budgets[-1],))


@dataclass(frozen=True)
class Trial:
    """One evaluation of one configuration on one budget.

    Attributes:
        bracket: The Hyperband iteration the trial belongs to.
        config_id: Index of the configuration within its bracket (rung-0 order).
        rung: Index of the rung within the bracket.
        budget: The budget.
        config: The configuration (active parameters only).
    """

    bracket: int
    config_id: int
    rung: int
    budget: float
    config: Mapping[str, Any] = field(compare=False)

    @property
    def id(self) -> str:
        """A stable name, ``<bracket>-<config>-<rung>``, used by the run log."""
        return f"{self.bracket}-{self.config_id}-{self.rung}"


Proposer = Callable[["SuccessiveHalving"], dict[str, Any]]


class SuccessiveHalving:
    """The state of one bracket: which trials ran, which run, which come next.

    Args:
        plan: The bracket's shape.
    """

    def __init__(self, plan: BracketPlan):
        self.plan = plan
        self.configs: list[dict[str, Any]] = []
        self.rung = 0
        self.losses: list[dict[int, float]] = [{} for _ in plan.sizes]
        self._queue: list[int] = []  # config ids of the current rung not yet started
        self._running: set[int] = set()
        self._to_start = plan.sizes[0]  # rung 0: new configurations still to propose
        self.finished = False

    def next_trial(self, propose: Proposer) -> Trial | None:
        """The next trial to start, or None while the current rung waits (the barrier)."""
        if self.finished:
            return None
        if self.rung == 0 and self._to_start > 0:
            self._to_start -= 1
            self.configs.append(dict(propose(self)))
            config_id = len(self.configs) - 1
        elif self._queue:
            config_id = self._queue.pop(0)
        else:
            return None
        self._running.add(config_id)
        return Trial(
            self.plan.iteration,
            config_id,
            self.rung,
            self.plan.budgets[self.rung],
            self.configs[config_id],
        )

    def record(self, trial: Trial, loss: float) -> None:
        """Store a finished trial; promote when its rung is complete.

        Raises:
            ValueError: the trial is not one this bracket started on its current rung.
        """
        if trial.bracket != self.plan.iteration or trial.rung != self.rung:
            raise ValueError(f"trial {trial.id} does not belong to the current rung")
        if trial.config_id not in self._running:
            raise ValueError(f"trial {trial.id} was not started or already recorded")
        self._running.discard(trial.config_id)
        self.losses[self.rung][trial.config_id] = loss
        if not self._running and not self._queue and not (self.rung == 0 and self._to_start):
            self._promote()

    def _promote(self) -> None:
        done = self.losses[self.rung]
        if self.rung + 1 >= len(self.plan.sizes):
            self.finished = True
            return
        finite = [cid for cid, loss in done.items() if math.isfinite(loss)]
        ranked = sorted(finite, key=lambda cid: (done[cid], cid))
        self._queue = ranked[: self.plan.sizes[self.rung + 1]]
        self.rung += 1
        if not self._queue:  # every trial of the rung failed: nothing to promote
            self.finished = True

    @property
    def running(self) -> int:
        """The number of trials started but not yet recorded."""
        return len(self._running)


def planned_budget(
    iterations: int, all_budgets: tuple[float, ...], eta: float, rule: str = "hpbandster"
) -> float:
    """The total budget Hyperband's first ``iterations`` brackets plan to spend.

    Examples:
        >>> planned_budget(8, budgets(9, 729, 3), 3) / 729
        33.0
    """
    return sum(bracket_plan(i, all_budgets, eta, rule).total_budget for i in range(iterations))

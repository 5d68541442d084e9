"""BOHB, Hyperband and random search behind one ask/tell interface.

One :class:`Optimizer` schedules trials with Hyperband (:mod:`autorl.bohb.hyperband`) and
proposes new configurations either from the prior (Hyperband, random search) or from the KDE
model (:mod:`autorl.bohb.kde`) with probability ``1 - random_fraction`` (BOHB). Read one BOHB
iteration top to bottom: :meth:`Optimizer.ask` -> :meth:`Optimizer._propose` ->
:meth:`Optimizer.tell`.

Several brackets may be open at once: when the current rung of a bracket waits for its last
trials (the barrier), :meth:`Optimizer.ask` starts the next bracket's configurations, so
parallel workers never idle while there is work.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ConfigSpace import ConfigurationSpace

from autorl.bohb.encoding import SpaceEncoding, config_key, plain_config
from autorl.bohb.hyperband import (
    BRACKET_RULES,
    BracketPlan,
    SuccessiveHalving,
    Trial,
    bracket_plan,
    budgets,
    max_budget_plan,
)
from autorl.bohb.kde import KDEModel, ModelSettings

#: Search methods: BOHB (model-based), Hyperband (random proposals) and random search
#: (random configurations on the largest budget only).
METHODS = ("bohb", "hyperband", "random")

_MAX_DRAWS = 1000  # prior draws before giving up on finding an unseen configuration


@dataclass(frozen=True)
class BOHBConfig:
    """Settings of a BOHB run (defaults: the reference implementation's).

    Attributes:
        min_budget: The smallest budget a configuration is evaluated on.
        max_budget: The largest budget.
        eta: Halving rate: each rung keeps the best ``1/eta`` and multiplies the budget by eta.
        top_n_percent: Percentage of a budget's results that count as good.
        min_points_in_model: Results a budget needs before it gets a model (None: d + 1).
        num_samples: Candidates sampled per model-based proposal.
        random_fraction: Fraction of proposals drawn from the prior instead of the model.
        bandwidth_factor: Widening of the good density's bandwidth when sampling candidates.
        min_bandwidth: Lower bound of every KDE bandwidth.
        seed: The one seed all randomness of the run derives from.
        brackets: How a bracket's first rung is sized: ``hpbandster`` (floor, the
            reference's) or ``paper`` (ceil, Li et al.); see :mod:`autorl.bohb.hyperband`.
    """

    min_budget: float
    max_budget: float
    eta: float = 3.0
    top_n_percent: int = 15
    min_points_in_model: int | None = None
    num_samples: int = 64
    random_fraction: float = 1 / 3
    bandwidth_factor: float = 3.0
    min_bandwidth: float = 1e-3
    seed: int = 0
    brackets: str = "hpbandster"

    def __post_init__(self) -> None:
        budgets(self.min_budget, self.max_budget, self.eta)  # validates the three
        if self.brackets not in BRACKET_RULES:
            raise ValueError(
                f"unknown bracket rule {self.brackets!r}; choose {' or '.join(BRACKET_RULES)}"
            )
        if not 1 <= self.top_n_percent <= 99:
            raise ValueError(f"top_n_percent must be in [1, 99], got {self.top_n_percent}")
        if self.min_points_in_model is not None and self.min_points_in_model < 1:
            raise ValueError("min_points_in_model must be >= 1 (or None for d + 1)")
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {self.num_samples}")
        if not 0 <= self.random_fraction <= 1:
            raise ValueError(f"random_fraction must be in [0, 1], got {self.random_fraction}")
        if not self.bandwidth_factor > 0 or not self.min_bandwidth > 0:
            raise ValueError("bandwidth_factor and min_bandwidth must be > 0")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    @property
    def budgets(self) -> tuple[float, ...]:
        """The rung budgets, ascending."""
        return budgets(self.min_budget, self.max_budget, self.eta)


@dataclass(frozen=True)
class Proposal:
    """A new configuration started on the first rung of a bracket.

    Attributes:
        bracket: The Hyperband iteration.
        config_id: Index of the configuration in its bracket.
        config: The configuration.
        model_based: Whether it came from the KDE model (False: the prior).
        model_budget: The budget whose model proposed it, if any.
    """

    bracket: int
    config_id: int
    config: dict[str, Any]
    model_based: bool
    model_budget: float | None = None


@dataclass
class Incumbent:
    """The best configuration so far: lowest loss on the largest budget with a finite loss."""

    config: dict[str, Any] | None = None
    loss: float = math.inf
    budget: float = -math.inf
    trial_id: str | None = None

    def update(self, trial: Trial, loss: float) -> bool:
        """Take ``trial`` if it is better; return whether it was taken."""
        if not math.isfinite(loss):
            return False
        if trial.budget > self.budget or (trial.budget == self.budget and loss < self.loss):
            self.config, self.loss, self.budget = dict(trial.config), loss, trial.budget
            self.trial_id = trial.id
            return True
        return False


def trial_seed(run_seed: int, trial: Trial, common_random_numbers: bool = False) -> int:
    """The seed handed to the objective.

    By default one per evaluation: the rung is part of it, so a promoted configuration
    draws fresh noise instead of re-measuring the luck it was promoted for. With
    ``common_random_numbers`` a configuration gets the same seed on every rung (a larger
    budget continues the same random path, e.g. the same training run for longer).
    """
    entropy = [run_seed, trial.bracket, trial.config_id]
    if not common_random_numbers:
        entropy.append(1_000_003 + trial.rung)  # disjoint from any 3-number CRN seed
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def _stream(seed: int, *keys: int) -> np.random.Generator:
    """An independent generator for one decision of the run (a proposal, a model fit)."""
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


@dataclass
class _Stats:
    trials: int = 0
    failed: int = 0
    budget_used: float = 0.0
    model_based: int = 0
    proposals: int = 0
    history: list[tuple[Trial, float]] = field(default_factory=list)


class Optimizer:
    """Hyperband-scheduled search with BOHB's model (ask/tell).

    Args:
        space: The search space (copied; the copy's sampler is seeded from ``config.seed``).
        config: Budgets, model settings and seed.
        method: ``bohb``, ``hyperband`` or ``random`` (see :data:`METHODS`).
        iterations: Hyperband iterations (brackets) to run; None runs until the caller stops.

    Raises:
        ValueError: unknown method, bad iterations, or a space the model cannot encode.
    """

    def __init__(
        self,
        space: ConfigurationSpace,
        config: BOHBConfig,
        *,
        method: str = "bohb",
        iterations: int | None = None,
    ):
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        if iterations is not None and iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        self.config = config
        self.method = method
        self.iterations = iterations
        self.space = copy.deepcopy(space)
        self.encoding = SpaceEncoding(self.space)
        settings = ModelSettings(
            config.top_n_percent,
            config.min_points_in_model,
            config.num_samples,
            config.bandwidth_factor,
            config.min_bandwidth,
        )
        self.model = (
            KDEModel(self.encoding.vartypes, settings, seed=config.seed)
            if method == "bohb"
            else None
        )
        self._plan: Callable[[int, tuple[float, ...], float, str], BracketPlan] = (
            max_budget_plan if method == "random" else bracket_plan
        )
        self.warm_started = 0
        self.brackets: list[SuccessiveHalving] = []
        self._open: list[SuccessiveHalving] = []
        self._seen: dict[int, set[tuple[tuple[str, Any], ...]]] = {}
        self._replay: dict[tuple[int, int], dict[str, Any]] = {}
        self.incumbent = Incumbent()
        self.stats = _Stats()
        #: Called with every new :class:`Proposal` (not for configurations replayed on resume).
        self.on_propose: Callable[[Proposal], None] | None = None

    def preload(self, proposals: Mapping[tuple[int, int], Mapping[str, Any]]) -> None:
        """Reuse configurations proposed by an earlier, interrupted run (for resume)."""
        self._replay.update({key: dict(value) for key, value in proposals.items()})

    def warm_start(self, results: Sequence[tuple[Mapping[str, Any], float, float]]) -> int:
        """Feed earlier runs' (config, budget, loss) results to the model (not the incumbent).

        Only BOHB has a model; for the other methods this does nothing. Returns the number
        of results the model took.
        """
        if self.model is None:
            return 0
        for config, budget, loss in results:
            self.model.observe(self.encoding.to_vector(config), float(budget), loss)
        self.warm_started += len(results)
        return len(results)

    def ask(self) -> Trial | None:
        """The next trial to run, or None if every open bracket waits and no new may start."""
        for bracket in self._open:
            trial = bracket.next_trial(self._propose)
            if trial is not None:
                return trial
        if self.iterations is not None and len(self.brackets) >= self.iterations:
            return None
        bracket = SuccessiveHalving(
            self._plan(
                len(self.brackets), self.config.budgets, self.config.eta, self.config.brackets
            )
        )
        self.brackets.append(bracket)
        self._open.append(bracket)
        return bracket.next_trial(self._propose)

    def tell(self, trial: Trial, loss: float) -> None:
        """Record a finished trial (a non-finite loss marks it failed) and refit the model."""
        loss = float(loss) if math.isfinite(loss) else math.inf
        bracket = self.brackets[trial.bracket]
        bracket.record(trial, loss)
        if bracket.finished:
            self._open.remove(bracket)
        self.stats.trials += 1
        self.stats.failed += not math.isfinite(loss)
        self.stats.budget_used += trial.budget
        self.stats.history.append((trial, loss))
        self.incumbent.update(trial, loss)
        if self.model is not None:
            self.model.observe(self.encoding.to_vector(trial.config), trial.budget, loss)

    @property
    def finished(self) -> bool:
        """Whether all planned iterations ran to completion."""
        return (
            self.iterations is not None and len(self.brackets) >= self.iterations and not self._open
        )

    @property
    def running(self) -> int:
        """Trials asked for but not yet told."""
        return sum(bracket.running for bracket in self._open)

    @property
    def progress_label(self) -> str:
        """Where the run is, for the status line."""
        return f"iteration {len(self.brackets)}/{self.iterations or '?'}"

    def close(self) -> None:
        """Nothing to release (the external searchers have threads and files)."""

    def _propose(self, bracket: SuccessiveHalving) -> dict[str, Any]:
        key = (bracket.plan.iteration, len(bracket.configs))
        seen = self._seen.setdefault(bracket.plan.iteration, set())
        if key in self._replay:
            config = self._replay.pop(key)
            seen.add(config_key(config))
            return config
        proposal = self._sample(key, seen)
        seen.add(config_key(proposal.config))
        self.stats.proposals += 1
        self.stats.model_based += proposal.model_based
        if self.on_propose is not None:
            self.on_propose(proposal)
        return proposal.config

    def _sample(self, key: tuple[int, int], seen: set[Any]) -> Proposal:
        # Every proposal has its own random stream (from the run seed and its place in the
        # schedule), so a resumed run proposes what an uninterrupted one would have.
        rng = _stream(self.config.seed, 1, *key)
        model = self.model
        use_model = model is not None and model.budget is not None
        if use_model and rng.random() >= self.config.random_fraction:
            assert model is not None
            for vector in model.candidates(rng):
                candidate = self.encoding.to_config(vector)
                if candidate is None:
                    continue
                config = plain_config(candidate)
                if config_key(config) not in seen:
                    return Proposal(*key, config, True, model.budget)
        self.space.seed(int(rng.integers(2**31)))
        for _ in range(_MAX_DRAWS):
            config = plain_config(self.space.sample_configuration())
            if config_key(config) not in seen:
                return Proposal(*key, config, False)
        raise RuntimeError(
            f"found no configuration not yet used in bracket {key[0]} after {_MAX_DRAWS} "
            "draws: the search space is smaller than the bracket; lower max_budget/min_budget"
        )

"""Other optimizers behind the same ask/tell interface as :class:`autorl.bohb.Optimizer`.

So that ``autorl optimize --optimizer NAME`` and ``autorl benchmark-optimizers`` run every
method through one code path (:func:`autorl.bohb.run.run`: same run log, same seeding, same
incumbent rule, same resume), each library is wrapped as a *searcher*:

- ``smac``: SMAC3's multi-fidelity facade (random forest + Hyperband), ``deterministic=True``
  (one evaluation per configuration and budget, like BOHB's);
- ``optuna``: Optuna's TPE sampler with its Hyperband pruner; a trial is evaluated on the
  rung budgets in turn (each evaluation costs its budget) and reported at step
  ``round(budget)`` until the pruner stops it;
- ``hpbandster``: the reference BOHB (hpbandster 0.7.4) itself, through
  :class:`autorl.bohb.reference.HpBandSterBOHB`.

They are optional extras (``pip install 'autorl[compare]'``). A searcher evaluates one trial
at a time (``--workers`` above 1 leaves the others idle) and stops asking once the budget
it was given is committed: ``planned_budget(iterations)`` of Hyperband with the run's
bracket rule, so every method gets the same total budget.

A resumed run rebuilds the searcher with the same seed and replays logged results *by
content*: when the library asks for a (configuration, budget) the log already holds, it gets
the logged loss instead of a new evaluation. Optuna's TPE and hpbandster propose the same
sequence for a seed, so their resumed runs equal uninterrupted ones; SMAC 3 (2.4) does not
(two fresh runs with one seed diverged after ~100 trials here), so a resumed SMAC run reuses
every logged result it asks for again and evaluates the rest.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ConfigSpace import (
    CategoricalHyperparameter,
    ConfigurationSpace,
    UniformFloatHyperparameter,
    UniformIntegerHyperparameter,
)

from autorl.bohb.encoding import config_key, plain_config
from autorl.bohb.hyperband import Trial, planned_budget
from autorl.bohb.optimizer import BOHBConfig, Incumbent, Proposal, _Stats

#: External searchers and the module each needs.
EXTERNAL = {"smac": "smac", "optuna": "optuna", "hpbandster": "hpbandster"}


def available(name: str) -> bool:
    """Whether the package behind searcher ``name`` is installed."""
    return importlib.util.find_spec(EXTERNAL[name]) is not None


class ExternalSearcher:
    """Bookkeeping shared by the wrapped libraries: trials, budget cap, incumbent, stats.

    Subclasses implement :meth:`_next` (the library's next (config, budget, native key) or
    None) and :meth:`_result` (hand the loss back to the library).

    Args:
        space: The search space.
        config: Budgets, seed and bracket rule (the model settings are the library's own).
        iterations: Hyperband iterations whose planned budget this searcher may spend.
    """

    method = "external"

    def __init__(self, space: ConfigurationSpace, config: BOHBConfig, iterations: int):
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        self.space = space
        self.config = config
        self.iterations = iterations
        self.total_budget = planned_budget(iterations, config.budgets, config.eta, config.brackets)
        self.incumbent = Incumbent()
        self.stats = _Stats()
        self.committed = 0.0
        self.on_propose: Callable[[Proposal], None] | None = None
        self._ids: dict[Any, int] = {}  # config key -> config id (order of first appearance)
        self._next_id = 0
        self._logged: dict[int, Any] = {}  # config id -> config key, from a resumed run's log
        self._used_ids: set[str] = set()
        self._native: dict[str, Any] = {}  # trial id -> the library's handle
        self._done = False

    # The interface the run loop uses -------------------------------------------------
    def ask(self) -> Trial | None:
        """The next trial, or None while one runs or once the budget is committed."""
        if self._native or self._done or self.committed >= self.total_budget - 1e-9:
            return None
        nxt = self._next()
        if nxt is None:
            self._done = True
            return None
        config, budget, native = nxt
        config = dict(config)
        key = config_key(config)
        new = key not in self._ids
        if new:  # never reuse an id the log gives another configuration
            while self._logged.get(self._next_id, key) != key:
                self._next_id += 1
            self._ids[key] = self._next_id
            self._next_id += 1
        config_id = self._ids[key]
        rungs = self.config.budgets
        rung = min(range(len(rungs)), key=lambda i: abs(rungs[i] - budget))
        repeat = 0
        while f"{repeat}-{config_id}-{rung}" in self._used_ids:
            repeat += 1
        trial = Trial(repeat, config_id, rung, float(budget), config)
        self._used_ids.add(trial.id)
        self._native[trial.id] = native
        self.committed += float(budget)
        if new:
            self.stats.proposals += 1
            if self.on_propose is not None:
                self.on_propose(Proposal(repeat, config_id, config, False))
        return trial

    def tell(self, trial: Trial, loss: float) -> None:
        """Record a finished trial and hand its loss to the library."""
        loss = float(loss) if math.isfinite(loss) else math.inf
        native = self._native.pop(trial.id)
        self.stats.trials += 1
        self.stats.failed += not math.isfinite(loss)
        self.stats.budget_used += trial.budget
        self.stats.history.append((trial, loss))
        self.incumbent.update(trial, loss)
        self._result(native, trial, loss)

    @property
    def finished(self) -> bool:
        """Whether the budget is spent (or the library stopped) and nothing runs."""
        return not self._native and (self._done or self.committed >= self.total_budget - 1e-9)

    @property
    def running(self) -> int:
        """Trials asked for but not yet told (0 or 1)."""
        return len(self._native)

    @property
    def progress_label(self) -> str:
        """Where the run is, for the status line."""
        return f"budget {self.committed:g}/{self.total_budget:g}"

    #: The run loop replays logged trials by (configuration, budget), not by trial id.
    replay_by_content = True

    def preload(self, proposals: Mapping[tuple[int, int], Mapping[str, Any]]) -> None:
        """Remember which config ids the log uses (a resumed run re-asks the library)."""
        for (repeat, config_id), config in proposals.items():
            if repeat == 0:
                self._logged[config_id] = config_key(dict(config))

    def warm_start(self, results: Sequence[tuple[Mapping[str, Any], float, float]]) -> int:
        """Warm starting is autorl's BOHB feature; external searchers refuse it."""
        raise ValueError(f"--warm-start is not supported with --optimizer {self.method}")

    def close(self) -> None:
        """Release the library's resources (threads, temporary files)."""

    # For subclasses ----------------------------------------------------------------------
    def _next(self) -> tuple[Mapping[str, Any], float, Any] | None:
        raise NotImplementedError

    def _result(self, native: Any, trial: Trial, loss: float) -> None:
        raise NotImplementedError


class SmacSearcher(ExternalSearcher):
    """SMAC3's ``MultiFidelityFacade`` with its Hyperband intensifier."""

    method = "smac"

    def __init__(self, space: ConfigurationSpace, config: BOHBConfig, iterations: int):
        super().__init__(space, config, iterations)
        from smac import MultiFidelityFacade, Scenario

        self._tmp = tempfile.TemporaryDirectory(prefix="autorl-smac-")
        scenario = Scenario(
            _seeded_copy(space, config.seed),
            deterministic=True,
            n_trials=10**9,
            min_budget=config.budgets[0],
            max_budget=config.budgets[-1],
            seed=config.seed,
            output_directory=self._tmp.name,
        )
        self._smac = MultiFidelityFacade(
            scenario,
            _never_called,
            intensifier=MultiFidelityFacade.get_intensifier(scenario, eta=int(config.eta)),
            overwrite=True,
            logging_level=logging.ERROR,
        )

    def _next(self) -> tuple[Mapping[str, Any], float, Any]:
        info = self._smac.ask()
        return plain_config(info.config), float(info.budget), info

    def _result(self, native: Any, trial: Trial, loss: float) -> None:
        from smac.runhistory.dataclasses import TrialValue

        cost = loss if math.isfinite(loss) else 1e30  # SMAC needs a finite cost
        self._smac.tell(native, TrialValue(cost=cost))

    def close(self) -> None:
        """Remove SMAC's output directory."""
        self._tmp.cleanup()


def _never_called(config: Any, seed: int = 0, budget: float = 0.0) -> float:
    raise RuntimeError("the ask/tell loop evaluates configurations itself")


def _seeded_copy(space: ConfigurationSpace, seed: int) -> ConfigurationSpace:
    copy = ConfigurationSpace.from_serialized_dict(space.to_serialized_dict())
    copy.seed(seed)
    return copy


class OptunaSearcher(ExternalSearcher):
    """Optuna's TPE sampler with its Hyperband pruner, a trial climbing the rungs."""

    method = "optuna"

    def __init__(self, space: ConfigurationSpace, config: BOHBConfig, iterations: int):
        super().__init__(space, config, iterations)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        rungs = config.budgets
        self._study = optuna.create_study(
            # A fixed name: the Hyperband pruner assigns brackets by hashing it.
            study_name=f"autorl-{config.seed}",
            sampler=optuna.samplers.TPESampler(seed=config.seed),
            pruner=optuna.pruners.HyperbandPruner(
                min_resource=max(1, round(rungs[0])),
                max_resource=round(rungs[-1]),
                reduction_factor=int(config.eta),
            ),
        )
        self._distributions = optuna_distributions(space)
        self._trial: Any = None
        self._rung = 0

    def _next(self) -> tuple[Mapping[str, Any], float, Any]:
        if self._trial is None:
            self._trial = self._study.ask(self._distributions)
            self._rung = 0
        return dict(self._trial.params), self.config.budgets[self._rung], self._trial

    def _result(self, native: Any, trial: Trial, loss: float) -> None:
        state = self._optuna.trial.TrialState
        rungs = self.config.budgets
        if not math.isfinite(loss):
            self._study.tell(native, state=state.FAIL)
            self._trial = None
            return
        native.report(loss, step=round(rungs[self._rung]))
        if self._rung == len(rungs) - 1:
            self._study.tell(native, loss)
            self._trial = None
        elif native.should_prune():
            self._study.tell(native, state=state.PRUNED)
            self._trial = None
        else:
            self._rung += 1


def optuna_distributions(space: ConfigurationSpace) -> dict[str, Any]:
    """Optuna distributions for an unconditional ConfigSpace space.

    Raises:
        ValueError: the space has conditions, forbidden clauses or other parameter types.
    """
    import optuna.distributions as dist

    if space.conditions or space.forbidden_clauses:
        raise ValueError("the Optuna searcher supports spaces without conditions or forbiddens")
    out: dict[str, Any] = {}
    for name, hp in space.items():
        if isinstance(hp, UniformFloatHyperparameter):
            out[name] = dist.FloatDistribution(hp.lower, hp.upper, log=hp.log)
        elif isinstance(hp, UniformIntegerHyperparameter):
            out[name] = dist.IntDistribution(hp.lower, hp.upper, log=hp.log)
        elif isinstance(hp, CategoricalHyperparameter):
            out[name] = dist.CategoricalDistribution([_plain(c) for c in hp.choices])
        else:
            raise ValueError(f"the Optuna searcher does not support {type(hp).__name__} ({name})")
    return out


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


class HpBandSterSearcher(ExternalSearcher):
    """The reference BOHB, hpbandster 0.7.4, driven through its own master and one worker."""

    method = "hpbandster"

    def __init__(self, space: ConfigurationSpace, config: BOHBConfig, iterations: int):
        super().__init__(space, config, iterations)
        if config.brackets != "hpbandster":
            raise ValueError(
                "--optimizer hpbandster sizes its brackets itself: use --brackets hpbandster"
            )
        from autorl.bohb.reference import HpBandSterBOHB

        self._ref = HpBandSterBOHB(
            space,
            config.budgets[0],
            config.budgets[-1],
            config.eta,
            iterations,
            config.seed,
        )

    def _next(self) -> tuple[Mapping[str, Any], float, Any] | None:
        request = self._ref.ask(timeout=600.0)
        if request is None:
            return None
        key, config, budget = request
        return config, budget, key

    def _result(self, native: Any, trial: Trial, loss: float) -> None:
        self._ref.tell(native, loss)

    def close(self) -> None:
        """Stop hpbandster's threads and name server."""
        self._ref.close()


SEARCHERS: dict[str, type[ExternalSearcher]] = {
    "smac": SmacSearcher,
    "optuna": OptunaSearcher,
    "hpbandster": HpBandSterSearcher,
}


def make_searcher(
    name: str, space: ConfigurationSpace, config: BOHBConfig, iterations: int
) -> ExternalSearcher:
    """The external searcher ``name``.

    Raises:
        ValueError: unknown name, or its package is not installed.
    """
    if name not in SEARCHERS:
        raise ValueError(f"unknown optimizer {name!r}; external ones: {', '.join(SEARCHERS)}")
    if not available(name):
        raise ValueError(
            f"--optimizer {name} needs the {EXTERNAL[name]} package: pip install 'autorl[compare]'"
        )
    return SEARCHERS[name](space, config, iterations)

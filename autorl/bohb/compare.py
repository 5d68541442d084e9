"""Optimizer adapters for the side-by-side benchmark (:mod:`benchmarks.optimizers`).

Each adapter is ``adapter(problem, evaluate, seed)``: it optimizes ``problem``'s space with
the problem's budgets and eta, calling ``evaluate(config, budget)`` until
``evaluate.exhausted``. Available:

- ``random``, ``hyperband``, ``bohb``: autorl's own (:class:`autorl.bohb.Optimizer`);
- ``smac``: SMAC3's multi-fidelity facade (random forest + Hyperband), when ``smac`` is
  installed (``pip install 'autorl[compare]'``); configurations are evaluated once per
  budget (``deterministic=True``), like BOHB's;
- ``optuna``: Optuna's TPE sampler with its Hyperband pruner, when ``optuna`` is installed;
  a trial is evaluated on the rung budgets in turn (each evaluation costs its budget) and
  reported at step ``round(budget)`` until the pruner stops it.
"""

from __future__ import annotations

import importlib.util
import logging
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

from ConfigSpace import (
    CategoricalHyperparameter,
    ConfigurationSpace,
    UniformFloatHyperparameter,
    UniformIntegerHyperparameter,
)

from autorl.bohb.hyperband import budgets
from autorl.bohb.optimizer import BOHBConfig, Optimizer
from benchmarks.optimizers import Evaluator, OptimizerFn
from benchmarks.synthetic import SyntheticProblem

#: Adapter names in table order.
ADAPTERS = ("random", "hyperband", "bohb", "smac", "optuna")


def autorl_adapter(method: str) -> OptimizerFn:
    """An adapter for autorl's ``random``, ``hyperband`` or ``bohb``."""

    def optimize(problem: SyntheticProblem, evaluate: Evaluator, seed: int) -> None:
        config = BOHBConfig(problem.min_budget, problem.max_budget, problem.eta, seed=seed)
        optimizer = Optimizer(problem.make_space(None), config, method=method)
        while not evaluate.exhausted:
            trial = optimizer.ask()
            assert trial is not None  # unlimited iterations, serial: there is always a trial
            optimizer.tell(trial, evaluate(trial.config, trial.budget))

    return optimize


def smac_adapter(problem: SyntheticProblem, evaluate: Evaluator, seed: int) -> None:
    """SMAC3's ``MultiFidelityFacade`` with its Hyperband intensifier (ask/tell)."""
    from smac import MultiFidelityFacade, Scenario
    from smac.runhistory.dataclasses import TrialValue

    with tempfile.TemporaryDirectory(prefix="autorl-smac-") as tmp:
        scenario = Scenario(
            problem.make_space(seed),
            deterministic=True,
            n_trials=10**9,
            min_budget=problem.min_budget,
            max_budget=problem.max_budget,
            seed=seed,
            output_directory=tmp,
        )
        smac = MultiFidelityFacade(
            scenario,
            _never_called,
            intensifier=MultiFidelityFacade.get_intensifier(scenario, eta=int(problem.eta)),
            overwrite=True,
            logging_level=logging.ERROR,
        )
        while not evaluate.exhausted:
            info = smac.ask()
            loss = evaluate(dict(info.config), float(info.budget))
            smac.tell(info, TrialValue(cost=loss))


def _never_called(config: Any, seed: int = 0, budget: float = 0.0) -> float:
    raise RuntimeError("the ask/tell loop evaluates configurations itself")


def optuna_adapter(problem: SyntheticProblem, evaluate: Evaluator, seed: int) -> None:
    """Optuna's TPE sampler with its Hyperband pruner (ask/tell)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rungs = budgets(problem.min_budget, problem.max_budget, problem.eta)
    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(
            min_resource=max(1, round(rungs[0])),
            max_resource=round(rungs[-1]),
            reduction_factor=int(problem.eta),
        ),
    )
    distributions = optuna_distributions(problem.make_space(None))
    while not evaluate.exhausted:
        trial = study.ask(distributions)
        loss = None
        for budget in rungs:
            if evaluate.exhausted:
                break
            loss = evaluate(dict(trial.params), budget)
            trial.report(loss, step=round(budget))
            if budget < rungs[-1] and trial.should_prune():
                loss = None
                break
        if loss is None:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, loss)


def optuna_distributions(space: ConfigurationSpace) -> dict[str, Any]:
    """Optuna distributions for an unconditional ConfigSpace space.

    Raises:
        ValueError: the space has conditions, forbidden clauses or other parameter types.
    """
    import optuna.distributions as dist

    if space.conditions or space.forbidden_clauses:
        raise ValueError("the Optuna adapter supports spaces without conditions or forbiddens")
    out: dict[str, Any] = {}
    for name, hp in space.items():
        if isinstance(hp, UniformFloatHyperparameter):
            out[name] = dist.FloatDistribution(hp.lower, hp.upper, log=hp.log)
        elif isinstance(hp, UniformIntegerHyperparameter):
            out[name] = dist.IntDistribution(hp.lower, hp.upper, log=hp.log)
        elif isinstance(hp, CategoricalHyperparameter):
            out[name] = dist.CategoricalDistribution([_plain(c) for c in hp.choices])
        else:
            raise ValueError(f"the Optuna adapter does not support {type(hp).__name__} ({name})")
    return out


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def available_adapters() -> dict[str, OptimizerFn]:
    """Every adapter whose package is installed, in :data:`ADAPTERS` order."""
    adapters: dict[str, OptimizerFn] = {
        m: autorl_adapter(m) for m in ("random", "hyperband", "bohb")
    }
    optional: Mapping[str, tuple[str, Callable[..., None]]] = {
        "smac": ("smac", smac_adapter),
        "optuna": ("optuna", optuna_adapter),
    }
    for name, (module, adapter) in optional.items():
        if importlib.util.find_spec(module) is not None:
            adapters[name] = adapter
    return adapters

"""Task ``nas``: BOHB tunes the NAS controller (Zoph & Le 2017, trained with PPO).

A trial is one NAS search (:func:`meta.nas_search.run_search`, method ``ppo``) with the
trial's :class:`meta.nas_controller.ControllerConfig`: the controller proposes child CNNs
(:mod:`envs.nas_space`), each distinct child is trained briefly (the default
:class:`envs.nas_children.ChildRecipe`: 3 epochs) and its validation accuracy is the reward.
Loss = 1 - the best validation accuracy the search found (in [0, 1]; lower is better). The
test split is never used and the best child is not retrained (``final_epochs = 0``).

Space (:func:`nas_space`; the flat keys of :class:`ControllerConfig`, defaults = its
defaults):

===================  ================  ========  =========================================
key                  range             default   why
===================  ================  ========  =========================================
learning_rate        1e-4..1e-2 log    3e-3      Adam on a small LSTM that makes only
                                                 1..70 updates in a trial: below 1e-4 it
                                                 barely moves, above 1e-2 it risks
                                                 collapsing onto one architecture early
lstm_units           16..128 log       64        Zoph & Le's controller has 35 units; 128
                                                 is ample for the 27 (mnist1d) or 33
                                                 (digits) tokens of a 6-layer child
embedding_size       4..32 log         16        a decision has at most 4 choices, the
                                                 token codes are few: 4 dimensions suffice
episodes_per_update  4..20 log         10        Zoph & Le's batch of children; the
                                                 smallest budget (30) still buys >= 1 update
n_epochs             1..10             4         passes over each rollout; beyond 10 a
                                                 rollout of 4..20 episodes is overfitted
clip_range           0.05..0.4         0.2       brackets PPO's usual 0.1..0.3
entropy_coef         1e-5..1e-1 log    1e-3      from "none" to "stays near uniform"
                                                 (summed over ~30 decisions)
reward_power         1..3              1         accuracy ** p: Zoph & Le cube it, which
                                                 sharpens differences near the top
===================  ================  ========  =========================================

Fixed: ``lstm_layers`` 1, ``minibatches`` 1, ``gamma`` = ``gae_lambda`` = 1 (the reward
comes at the end of an episode), ``vf_coef`` 0.5, ``max_grad_norm`` 0.5.

Problem (task settings of :func:`nas_task`, recorded in the run log and checked on resume):
the children's ``dataset`` (``--dataset``: ``mnist1d``, the default, or ``digits``), their
``layers`` (:data:`envs.nas_space.DEFAULT_LAYERS`) and training ``epochs`` (the
recipe's 3); strides ``(1,)`` and skip connections as in :func:`run_search`'s defaults.

Budget (``evaluations``): distinct child evaluations of one search (a repeated proposal
costs nothing), 30, 90, 270 (eta 3). A search of 300 evaluations takes about 8 minutes on
2 cores here (~3 s per child on one core), so the top rung costs ~15 core-minutes. At 30
evaluations the controller has made at least 1 (``episodes_per_update`` 20) to about 7
(4) updates, more when it repeats itself: the small rungs mostly rank how fast a
configuration starts to improve on its first, nearly random, proposals.

Seeds (``common_random_numbers``): True. The search seed seeds the controller; the
children's training is deterministic for the recipe's seed (the same for every trial), so
a larger rung with the same seed makes the same first proposals and evaluations as the
smaller one and then continues: a configuration's best accuracy can only grow with the
budget, and the repeated start is read from the child cache rather than trained again.
(On CUDA, where training is not bit-exact, the shared cache still hands the larger rung the
smaller rung's records.) Fresh seeds would re-measure a configuration's luck, but the
larger rung would train most of its children anew and could end below the smaller one.

Child cache: with ``run_dir`` (``autorl optimize`` passes its ``--out`` when trials run on
this machine) every trial shares ``<run dir>/children.jsonl``
(:class:`envs.evaluation_cache.EvaluationCache`; appends from several processes are safe),
so no trial trains a child (architecture, dataset, recipe) another trial already trained
(the recipe's seed is the same for every trial, so any two configurations share their
common children), and a resumed run keeps them. Without it (in-process use, Ray) each
trial caches in memory. A cached child still counts toward the trial's budget.

Cores: a trial trains ``max(1, cpus // workers)`` children at a time, in worker processes
kept for the life of the trial worker (one torch import per process, not per trial).
Children train on ``device`` (``--device``; ``auto``: CUDA when the trial's machine has it;
only ``cpu`` is bit-exact); the controller stays on the CPU.

Trial timeout (a guard against hung trials, not a budget): ``evaluations x epochs x``
:data:`SECONDS_PER_CHILD_EPOCH` ``+`` :data:`TRIAL_GRACE`, i.e. 10 s per child-epoch
against the ~1 s typical here, as if the children trained one at a time: room for large
children, controller updates and a loaded machine.

Incumbent: ``incumbent.json`` is the flat :class:`ControllerConfig` of the best
configuration plus a ``_meta`` object (loss, budget, best validation accuracy, the
problem and the search configuration) that :meth:`ControllerConfig.load` ignores, so
``autorl nas search --config runs/x/incumbent.json --dataset ...`` runs it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ConfigSpace import ConfigurationSpace, Float, Integer

from autorl.bohb.executor import TrialResult
from autorl.tasks.base import IncumbentWriter, Task, TaskOptions
from envs.execution import ProcessExecutor
from envs.nas_children import DATASETS, ChildRecipe
from envs.nas_space import DEFAULT_LAYERS
from meta.files import write_json_atomic
from meta.nas_controller import ControllerConfig
from meta.nas_search import SearchSettings, run_search
from policies.device import check_device, resolve_device

#: Budget units; the first is the default.
BUDGET_UNITS = ("evaluations",)
#: Default smallest and largest budget (eta 3: 30, 90, 270 evaluations).
DEFAULT_BUDGETS = (30.0, 270.0)
#: The children's training epochs during a search (the recipe's default).
SEARCH_EPOCHS = ChildRecipe().epochs
#: Trial timeout per child and training epoch (~10x the typical child here).
SECONDS_PER_CHILD_EPOCH = 10.0
#: Seconds a trial may take beyond its children (worker start, imports, controller).
TRIAL_GRACE = 300.0
#: The shared child cache in the run directory.
CACHE_FILE = "children.jsonl"

_DEFAULT = ControllerConfig()


def nas_space(seed: int | None = None) -> ConfigurationSpace:
    """The search space (ranges and their reasons in the module docstring).

    Args:
        seed: Seed of the space's sampler.
    """
    space = ConfigurationSpace(name="nas", seed=seed)
    space.add(
        [
            Float("learning_rate", (1e-4, 1e-2), log=True, default=_DEFAULT.learning_rate),
            Integer("lstm_units", (16, 128), log=True, default=_DEFAULT.lstm_units),
            Integer("embedding_size", (4, 32), log=True, default=_DEFAULT.embedding_size),
            Integer("episodes_per_update", (4, 20), log=True, default=_DEFAULT.episodes_per_update),
            Integer("n_epochs", (1, 10), default=_DEFAULT.n_epochs),
            Float("clip_range", (0.05, 0.4), default=_DEFAULT.clip_range),
            Float("entropy_coef", (1e-5, 1e-1), log=True, default=_DEFAULT.entropy_coef),
            Float("reward_power", (1.0, 3.0), default=_DEFAULT.reward_power),
        ]
    )
    return space


def to_controller_config(config: Mapping[str, Any]) -> ControllerConfig:
    """The controller a configuration of :func:`nas_space` describes (other keys default).

    Raises:
        ValueError: an unknown key or a bad value (the message names it).
    """
    return _DEFAULT.updated(dict(config))


def trial_cores(workers: int, cpus: int | None = None) -> int:
    """Children a trial trains at once: the cores per trial worker, at least 1."""
    return max(1, (cpus or os.cpu_count() or 1) // max(1, workers))


_EXECUTORS: dict[int, ProcessExecutor] = {}


def _executor(size: int) -> ProcessExecutor:
    """Child workers kept for the life of the trial worker (they die with it)."""
    if size not in _EXECUTORS:
        _EXECUTORS[size] = ProcessExecutor(size, name="autorl-nas-child")
    return _EXECUTORS[size]


@dataclass(frozen=True)
class NasObjective:
    """One PPO NAS search per trial; loss = 1 - the best validation accuracy found.

    Attributes:
        dataset: The children's dataset.
        layers: Convolutions per child.
        epochs: The children's training epochs.
        cores: Children trained at once (worker processes).
        device: Where children train (``auto|cpu|cuda[:N]``, resolved in the trial).
        cache: The shared child cache file (None: in memory, per trial).
    """

    dataset: str = DATASETS[0]
    layers: int = DEFAULT_LAYERS
    epochs: int = SEARCH_EPOCHS
    cores: int = 1
    device: str = "cpu"
    cache: str | None = None

    def __post_init__(self) -> None:
        self.settings(1, 0)  # bad settings fail here, not in a trial

    def settings(self, budget: float, seed: int, device: str = "cpu") -> SearchSettings:
        """The search a trial on ``budget`` evaluations with ``seed`` runs.

        Raises:
            ValueError: a bad dataset, layers, epochs or budget.
        """
        return SearchSettings(
            dataset=self.dataset,
            evaluations=max(1, round(budget)),
            method="ppo",
            layers=self.layers,
            recipe=ChildRecipe(epochs=self.epochs, device=device),
            final_epochs=0,
            seed=seed,
            workers=self.cores,
            cache=self.cache,
        )

    def __call__(self, config: dict[str, Any], budget: float, seed: int) -> TrialResult:
        """Search ``budget`` distinct children with ``config``'s controller."""
        controller = to_controller_config(config)
        settings = self.settings(budget, seed, resolve_device(self.device))
        result = run_search(settings, controller, executor=_executor(self.cores))
        best = result.best
        info = {
            "best_val_accuracy": float(best["val_accuracy"]),
            "best_evaluation": best["evaluation"],
            "best_architecture": best["architecture"],
            "evaluations": len(result.evaluations),
            "cached": sum(bool(e.get("cached")) for e in result.evaluations),
            "invalid": sum(bool(e.get("invalid")) for e in result.evaluations),
            "proposals": result.proposals,
            "search_seconds": round(result.seconds, 3),
            "flat_config": controller.to_flat(),
        }
        return TrialResult(1.0 - float(best["val_accuracy"]), info)


def _incumbent_writer(problem: Mapping[str, Any]) -> IncumbentWriter:
    """Writes the flat controller config with ``_meta`` (loss, budget, accuracy, problem)."""

    def write(path: Path, config: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        flat = to_controller_config(config).to_flat()
        extra = {**meta, "search_config": dict(config), "problem": dict(problem)}
        loss = meta.get("loss")
        if isinstance(loss, int | float):
            extra["best_val_accuracy"] = 1.0 - float(loss)
        write_json_atomic({**flat, "_meta": extra}, path)

    return write


def nas_task(
    dataset: str = DATASETS[0],
    layers: int = DEFAULT_LAYERS,
    epochs: int = SEARCH_EPOCHS,
    workers: int = 1,
    cpus: int | None = None,
    device: str = "auto",
    run_dir: str | Path | None = None,
) -> Task:
    """The nas task (see the module docstring).

    Args:
        dataset: The children's dataset (``mnist1d`` or ``digits``).
        layers: Convolutions per child.
        epochs: The children's training epochs during a search.
        workers: Trial workers of the run (a trial trains children on the spare cores).
        cpus: CPUs the run's trials share (None: all of this machine's).
        device: Where children train (``auto|cpu|cuda[:N]``); not part of the options.
        run_dir: The run directory whose ``children.jsonl`` the trials share (None: each
            trial caches in memory); not part of the options.

    Raises:
        ValueError: an unknown dataset, ``layers`` or ``epochs`` < 1, a misspelled device.
    """
    cache = None if run_dir is None else str(Path(run_dir).resolve() / CACHE_FILE)
    objective = NasObjective(
        dataset, layers, epochs, trial_cores(workers, cpus), check_device(device), cache
    )
    problem = {"dataset": dataset, "layers": layers, "epochs": epochs}
    return Task(
        name="nas",
        space=nas_space(),
        objective=objective,
        min_budget=DEFAULT_BUDGETS[0],
        max_budget=DEFAULT_BUDGETS[1],
        eta=3.0,
        budget_unit="evaluations",
        options=problem,
        timeout=lambda budget: (
            max(1, round(budget)) * epochs * SECONDS_PER_CHILD_EPOCH + TRIAL_GRACE
        ),
        write_incumbent=_incumbent_writer(problem),
        common_random_numbers=True,
    )


def build(name: str, options: TaskOptions) -> Task:
    """The registry's factory (``--dataset``, ``--device``; budget unit ``evaluations``)."""
    unit = options.budget_unit or BUDGET_UNITS[0]
    if unit not in BUDGET_UNITS:
        raise ValueError(f"--budget-unit {unit!r}: nas counts {' or '.join(BUDGET_UNITS)}")
    dataset = options.dataset or DATASETS[0]
    if dataset not in DATASETS:
        raise ValueError(f"--dataset: unknown dataset {dataset!r}; choose {' or '.join(DATASETS)}")
    return nas_task(
        dataset=dataset,
        workers=options.workers,
        cpus=options.cpus,
        device=options.device,
        run_dir=options.run_dir,
    )


__all__ = [
    "BUDGET_UNITS",
    "CACHE_FILE",
    "DEFAULT_BUDGETS",
    "NasObjective",
    "build",
    "nas_space",
    "nas_task",
    "to_controller_config",
    "trial_cores",
]

"""The tasks ``autorl optimize`` can run: a space, an objective, budgets, an incumbent file.

- ``rna-learna``: LEARNA's joint architecture and hyperparameter space; budget = seconds of
  LEARNA design per target; loss = mean normalized Hamming distance of the best design per
  target (0 when all are solved).
- ``counting-ones``, ``mf-hartmann-3``, ``mf-hartmann-6``: the cheap multi-fidelity
  benchmarks of :mod:`benchmarks.synthetic`.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ConfigSpace import ConfigurationSpace

from autorl.bohb.executor import Objective, TrialResult, die_with_parent
from autorl.spaces import learna_space, to_flat_config
from benchmarks.synthetic import SyntheticProblem, counting_ones_problem, mf_hartmann_problem
from envs.dot_bracket import Target
from meta.files import write_json_atomic

TASKS = ("rna-learna", "counting-ones", "mf-hartmann-3", "mf-hartmann-6")

#: Registered dataset the rna-learna task samples its validation targets from by default.
DEFAULT_DATASET = "rfam-learn-validation"
#: Every how many targets of the default dataset one is taken (100 targets -> 10).
DEFAULT_STRIDE = 10
#: Seconds a trial may take beyond its design time (process start, torch import, folding).
TRIAL_GRACE = 60.0

IncumbentWriter = Callable[[Path, Mapping[str, Any], Mapping[str, Any]], None]


@dataclass(frozen=True)
class Task:
    """Everything ``autorl optimize`` needs to know about a task.

    Attributes:
        name: One of :data:`TASKS`.
        space: The search space.
        objective: ``objective(config, budget, seed)``, picklable.
        min_budget: Default smallest budget.
        max_budget: Default largest budget.
        eta: Default halving rate.
        budget_unit: What a budget counts (for messages).
        options: Task settings that define the problem (checked on resume).
        timeout: Seconds a trial on a budget may take (None: unlimited).
        write_incumbent: Writes ``incumbent.json`` from (path, config, meta).
    """

    name: str
    space: ConfigurationSpace
    objective: Objective
    min_budget: float
    max_budget: float
    eta: float = 3.0
    budget_unit: str = "budget"
    options: Mapping[str, Any] = field(default_factory=dict)
    timeout: Callable[[float], float | None] | None = None
    write_incumbent: IncumbentWriter | None = None


def target_parallelism(workers: int, num_targets: int, cpus: int | None = None) -> int:
    """Targets one trial may design at once: the cores left per trial worker, at least 1."""
    cpus = cpus or os.cpu_count() or 1
    return max(1, min(num_targets, cpus // max(1, workers)))


_WARM: list[bool] = []  # set once this process ran its warm-up design


def _design_target(
    target: Target, flat: dict[str, Any], budget: float, seed: int
) -> dict[str, Any]:
    from meta.config import LEARNA  # imported here: only trial processes need torch
    from meta.design import design, warm_up

    agent = LEARNA.updated(flat, source="BOHB configuration")
    if not _WARM:  # torch's one-time lazy imports are not the trial's time
        warm_up()
        _WARM.append(True)
    return design(target, method="learna", config=agent, time_limit=budget, seed=seed).to_dict()


_POOLS: dict[int, Any] = {}


def _pool(size: int) -> Any:
    """A process pool kept for the life of the trial worker (no torch import per trial)."""
    if size not in _POOLS:
        _POOLS[size] = mp.get_context("spawn").Pool(
            size, initializer=die_with_parent, initargs=(os.getpid(),)
        )
    return _POOLS[size]


@dataclass(frozen=True)
class RnaLearnaObjective:
    """LEARNA on validation targets; loss = mean normalized distance of the best designs.

    Attributes:
        targets: The validation targets.
        parallel: Targets designed at once (separate processes when > 1).
    """

    targets: tuple[Target, ...]
    parallel: int = 1

    def __call__(self, config: dict[str, Any], budget: float, seed: int) -> TrialResult:
        """Design every target for ``budget`` seconds with the agent ``config`` describes."""
        flat = to_flat_config(config)
        from meta.config import LEARNA

        LEARNA.updated(flat, source="BOHB configuration")  # fail fast, before any process
        jobs = [(t, flat, budget, (seed + i) % 2**32) for i, t in enumerate(self.targets)]
        if self.parallel > 1 and len(jobs) > 1:
            results = _pool(min(self.parallel, len(jobs))).starmap(_design_target, jobs)
        else:
            results = [_design_target(*job) for job in jobs]
        distances = [float(r["normalized_distance"]) for r in results]
        solved = [bool(r["solved"]) for r in results]
        info = {
            "solved_fraction": sum(solved) / len(solved),
            "targets": {
                r["target_id"]: {
                    "normalized_distance": d,
                    "solved": s,
                    "seconds": r["seconds"],
                    "episodes": r["episodes"],
                    "sequence": r["sequence"],
                }
                for r, d, s in zip(results, distances, solved, strict=True)
            },
            "flat_config": flat,
        }
        return TrialResult(sum(distances) / len(distances), info)


def _write_learna_incumbent(path: Path, config: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
    from meta.config import LEARNA

    agent = LEARNA.updated(to_flat_config(config), source="incumbent")
    agent.save(path, extra={**meta, "search_config": dict(config)})


def _synthetic_writer(problem: SyntheticProblem) -> IncumbentWriter:
    def write(path: Path, config: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        payload = {
            "config": dict(config),
            "true_value": problem.true_value(config),
            "regret": problem.regret(config),
            "_meta": dict(meta),
        }
        write_json_atomic(payload, path)

    return write


def default_targets() -> list[Target]:
    """Every :data:`DEFAULT_STRIDE`-th target of the Rfam-Learn validation set."""
    from benchmarks.datasets import load_dataset

    return list(load_dataset(DEFAULT_DATASET).targets[::DEFAULT_STRIDE])


def rna_learna_task(targets: list[Target], workers: int = 1) -> Task:
    """The rna-learna task on ``targets`` (budgets: 60 ... 1800 s per target, as published)."""
    if not targets:
        raise ValueError("rna-learna needs at least one target")
    parallel = target_parallelism(workers, len(targets))
    rounds = math.ceil(len(targets) / parallel)
    return Task(
        name="rna-learna",
        space=learna_space(),
        objective=RnaLearnaObjective(tuple(targets), parallel),
        min_budget=60.0,
        max_budget=1800.0,
        budget_unit="seconds per target",
        options={"targets": {t.id: t.structure for t in targets}},
        timeout=lambda budget: rounds * budget * 1.5 + TRIAL_GRACE,
        write_incumbent=_write_learna_incumbent,
    )


def synthetic_task(name: str, problem: SyntheticProblem) -> Task:
    """A task around one of the problems of :mod:`benchmarks.synthetic`."""
    return Task(
        name=name,
        space=problem.make_space(None),
        objective=problem.evaluate,
        min_budget=problem.min_budget,
        max_budget=problem.max_budget,
        eta=problem.eta,
        options={"problem": problem.name},
        write_incumbent=_synthetic_writer(problem),
    )


def make_task(
    name: str,
    *,
    targets: list[Target] | None = None,
    workers: int = 1,
    dims: int = 4,
) -> Task:
    """Build the task ``name`` (one of :data:`TASKS`).

    Args:
        name: The task.
        targets: rna-learna's validation targets (default: :func:`default_targets`).
        workers: Trial workers (rna-learna designs targets in parallel only on spare cores).
        dims: counting-ones: number of categorical and of continuous parameters each.

    Raises:
        ValueError: unknown task or bad options.
    """
    if name == "rna-learna":
        return rna_learna_task(targets if targets is not None else default_targets(), workers)
    if name == "counting-ones":
        if dims < 1:
            raise ValueError(f"--dims must be >= 1, got {dims}")
        return synthetic_task(name, counting_ones_problem(dims, dims))
    if name in ("mf-hartmann-3", "mf-hartmann-6"):
        return synthetic_task(name, mf_hartmann_problem(int(name[-1])))
    raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")

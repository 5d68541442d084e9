"""Task ``rna-learna``: LEARNA's joint architecture and hyperparameter space on RNA targets.

Budget = seconds (default) or episodes of LEARNA design per target (``--budget-unit``).

Loss = mean normalized Hamming distance of the best design per target, plus a tie-break
that orders configurations with equal distances (above all those that solve every target,
which would otherwise all tie at 0): ``tie_weight * mean(used)``, where ``used`` is the
fraction of the budget a target took (seconds or episodes until its solution; 1 when
unsolved) and ``tie_weight = 0.1 / (targets * longest target)``, a tenth of the smallest
possible change of the mean distance. So the distance always decides first, and among
equals the faster designer wins.

Seeds differ per rung (no common random numbers): a design run's luck is not re-measured
when a configuration is promoted.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autorl.bohb.executor import TrialResult
from autorl.spaces import learna_space, to_flat_config
from autorl.tasks.base import Task, TaskOptions
from envs.dot_bracket import Target, read_targets
from envs.execution import ProcessExecutor, Unit, run_all
from policies.device import check_device, resolve_device

#: Registered dataset the rna-learna task samples its validation targets from by default.
DEFAULT_DATASET = "rfam-learn-validation"
#: Every how many targets of the default dataset one is taken (100 targets -> 10).
DEFAULT_STRIDE = 10
#: Seconds a trial may take beyond its design time (process start, torch import, folding).
TRIAL_GRACE = 60.0
#: Budget units: design seconds or design episodes per target.
BUDGET_UNITS = ("seconds", "episodes")
#: Default rungs per unit (seconds as published; episodes 100 ... 2700).
DEFAULT_BUDGETS = {"seconds": (60.0, 1800.0), "episodes": (100.0, 2700.0)}
#: Trial timeout per design episode of the budget (an episode on 450 nt takes < 0.5 s).
SECONDS_PER_EPISODE = 1.0


def target_parallelism(workers: int, num_targets: int, cpus: int | None = None) -> int:
    """Targets one trial may design at once: the cores left per trial worker, at least 1."""
    cpus = cpus or os.cpu_count() or 1
    return max(1, min(num_targets, cpus // max(1, workers)))


_WARM: list[bool] = []  # set once this process ran its warm-up design


def _design_target(
    target: Target,
    flat: dict[str, Any],
    budget: float,
    seed: int,
    unit: str = "seconds",
    device: str = "auto",
) -> dict[str, Any]:
    from meta.config import LEARNA  # imported here: only trial processes need torch
    from meta.design import design, warm_up

    agent = LEARNA.updated(flat, source="BOHB configuration")
    if not _WARM:  # torch's one-time lazy imports (and a CUDA context) are not the trial's time
        warm_up(device)
        _WARM.append(True)
    if unit == "episodes":
        limits: dict[str, Any] = {"time_limit": math.inf, "max_episodes": round(budget)}
    else:
        limits = {"time_limit": budget}
    return design(
        target, method="learna", config=agent, seed=seed, device=device, **limits
    ).to_dict()


_EXECUTORS: dict[int, ProcessExecutor] = {}


def _executor(size: int) -> ProcessExecutor:
    """Worker processes kept for the life of the trial worker (no torch import per trial).

    They die with the trial worker (killed at a trial's timeout, or ending with the run).
    """
    if size not in _EXECUTORS:
        _EXECUTORS[size] = ProcessExecutor(size, name="autorl-target-worker")
    return _EXECUTORS[size]


def _design_in_parallel(jobs: list[tuple], parallel: int) -> list[dict[str, Any]]:
    """Design the targets of ``jobs`` in ``parallel`` worker processes; results in order.

    Raises:
        envs.execution.UnitError: a target's design failed (its traceback as the cause).
    """
    units = [Unit(f"{index}:{job[0].id}", _design_target, job) for index, job in enumerate(jobs)]
    return [done.result() for done in run_all(_executor(parallel), units)]


@dataclass(frozen=True)
class RnaLearnaObjective:
    """LEARNA on validation targets; loss = mean normalized distance plus a tie-break.

    Attributes:
        targets: The validation targets.
        parallel: Targets designed at once (separate processes when > 1).
        unit: ``seconds`` or ``episodes`` per target.
        device: Torch device of the PPO policies: ``auto``, ``cpu``, ``cuda`` or
            ``cuda:N``, resolved in the trial process (folding stays on the CPU).
    """

    targets: tuple[Target, ...]
    parallel: int = 1
    unit: str = "seconds"
    device: str = "auto"

    @property
    def tie_weight(self) -> float:
        """Weight of the tie-break: a tenth of the smallest change of the mean distance."""
        return 0.1 / (len(self.targets) * max(len(t.structure) for t in self.targets))

    def __call__(self, config: dict[str, Any], budget: float, seed: int) -> TrialResult:
        """Design every target for ``budget`` seconds (or episodes) with ``config``'s agent."""
        flat = to_flat_config(config)
        from meta.config import LEARNA

        LEARNA.updated(flat, source="BOHB configuration")  # fail fast, before any process
        device = resolve_device(self.device)  # this trial's machine: a missing GPU fails here
        jobs = [
            (t, flat, budget, (seed + i) % 2**32, self.unit, device)
            for i, t in enumerate(self.targets)
        ]
        if self.parallel > 1 and len(jobs) > 1:
            results = _design_in_parallel(jobs, min(self.parallel, len(jobs)))
        else:
            results = [_design_target(*job) for job in jobs]
        distances = [float(r["normalized_distance"]) for r in results]
        solved = [bool(r["solved"]) for r in results]
        used = [self._used(r, budget) if s else 1.0 for r, s in zip(results, solved)]
        mean_distance = sum(distances) / len(distances)
        info = {
            "solved_fraction": sum(solved) / len(solved),
            "mean_distance": mean_distance,
            "budget_used_fraction": sum(used) / len(used),
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
        loss = mean_distance + self.tie_weight * sum(used) / len(used)
        return TrialResult(loss, info)

    def _used(self, result: Mapping[str, Any], budget: float) -> float:
        spent = result["episodes"] if self.unit == "episodes" else result["seconds"]
        return min(1.0, float(spent) / budget)


def _write_learna_incumbent(path: Path, config: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
    from meta.config import LEARNA

    agent = LEARNA.updated(to_flat_config(config), source="incumbent")
    agent.save(path, extra={**meta, "search_config": dict(config)})


def default_targets() -> list[Target]:
    """Every :data:`DEFAULT_STRIDE`-th target of the Rfam-Learn validation set."""
    from benchmarks.datasets import load_dataset

    return list(load_dataset(DEFAULT_DATASET).targets[::DEFAULT_STRIDE])


def rna_learna_task(
    targets: list[Target],
    workers: int = 1,
    unit: str = "seconds",
    device: str = "auto",
    cpus: int | None = None,
) -> Task:
    """The rna-learna task on ``targets`` (budgets: 60 ... 1800 s per target, as published).

    Args:
        targets: The validation targets.
        workers: Trial workers of the run (a trial designs targets on the spare cores).
        unit: ``seconds`` or ``episodes`` per target.
        device: Torch device of the trials' policies (``auto|cpu|cuda[:N]``); not part of
            the task's options, so a resumed run may use another device.
        cpus: CPUs the run's trials share (None: all of this machine's).

    Raises:
        ValueError: no targets, an unknown budget unit, or a misspelled device.
    """
    if not targets:
        raise ValueError("rna-learna needs at least one target")
    if unit not in BUDGET_UNITS:
        raise ValueError(f"--budget-unit {unit!r}: rna-learna counts {' or '.join(BUDGET_UNITS)}")
    device = check_device(device)
    parallel = target_parallelism(workers, len(targets), cpus)
    rounds = math.ceil(len(targets) / parallel)
    per_unit = 1.5 if unit == "seconds" else SECONDS_PER_EPISODE
    options: dict[str, Any] = {"targets": {t.id: t.structure for t in targets}}
    if unit != "seconds":  # run logs of seconds-budget runs keep their old header
        options["budget_unit"] = unit
    return Task(
        name="rna-learna",
        space=learna_space(),
        objective=RnaLearnaObjective(tuple(targets), parallel, unit, device),
        min_budget=DEFAULT_BUDGETS[unit][0],
        max_budget=DEFAULT_BUDGETS[unit][1],
        budget_unit=f"{unit} per target",
        options=options,
        timeout=lambda budget: rounds * budget * per_unit + TRIAL_GRACE,
        write_incumbent=_write_learna_incumbent,
    )


def build(name: str, options: TaskOptions) -> Task:
    """The registry's factory: targets from ``options.targets`` or the default sample."""
    targets = read_targets(options.targets) if options.targets else default_targets()
    return rna_learna_task(
        targets, options.workers, options.budget_unit or "seconds", options.device, options.cpus
    )

"""What a task is: a space, an objective, budgets with a unit, and an incumbent file."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ConfigSpace import ConfigurationSpace

from autorl.bohb.executor import Objective

IncumbentWriter = Callable[[Path, Mapping[str, Any], Mapping[str, Any]], None]


@dataclass(frozen=True)
class Task:
    """Everything ``autorl optimize`` needs to know about a task.

    Attributes:
        name: The registered name.
        space: The search space.
        objective: ``objective(config, budget, seed)``, picklable.
        min_budget: Default smallest budget.
        max_budget: Default largest budget.
        eta: Default halving rate.
        budget_unit: What a budget counts (``seconds``, ``episodes``, ``draws`` ...).
        options: Task settings that define the problem (checked on resume).
        timeout: Seconds a trial on a budget may take (None: unlimited).
        write_incumbent: Writes ``incumbent.json`` from (path, config, meta).
        common_random_numbers: Whether a configuration gets the same seed on every rung
            (True: a larger budget continues the same random path, e.g. the same training
            run for longer; False: every evaluation draws fresh noise, so successive halving
            does not re-measure the luck of the smaller rung).
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
    common_random_numbers: bool = False


@dataclass(frozen=True)
class TaskOptions:
    """Options a task factory may read (each task says which ones it accepts).

    Attributes:
        workers: Trial workers of the run (tasks use spare cores inside a trial).
        targets: RNA tasks: validation target file (None: the task's default).
        dims: counting-ones: categorical and continuous parameters, each.
        budget_unit: What a budget counts (None: the task's default unit).
        device: RNA tasks: torch device the trials train (and sample) their policies on:
            ``auto`` (CUDA when the trial's machine has it), ``cpu``, ``cuda`` or
            ``cuda:N``; resolved in the trial process. Environments and folding stay on
            the CPU; the synthetic tasks ignore it. It only decides where a policy runs,
            not what the task is, so it is never part of ``Task.options`` (a run started
            on the CPU resumes on a GPU and vice versa).
        cpus: CPUs the run's trials share, so a trial uses ``cpus // workers`` cores
            (None: this machine's; on Ray, the CPUs reserved per trial times the workers).
            Like the device, never part of ``Task.options``.
        dataset: nas: the children's dataset (None: the task's default, ``mnist1d``).
        run_dir: The run's directory when the trials run on this machine (None otherwise);
            nas shares its child cache there. Never part of ``Task.options``.
    """

    workers: int = 1
    targets: str | None = None
    dims: int = 4
    budget_unit: str | None = None
    device: str = "auto"
    cpus: int | None = None
    dataset: str | None = None
    run_dir: str | None = None


@dataclass(frozen=True)
class TaskSpec:
    """A registered task: how to build it and which options and budget units it knows.

    Attributes:
        name: The name ``--task`` takes.
        build: ``build(name, options) -> Task``; imports its heavy modules itself.
        summary: One line for ``--help``.
        options: Names of the :class:`TaskOptions` fields besides ``workers`` it reads.
        budget_units: Units it accepts; the first is the default.
    """

    name: str
    build: Callable[[str, TaskOptions], Task]
    summary: str
    options: tuple[str, ...] = ()
    budget_units: tuple[str, ...] = ("budget",)

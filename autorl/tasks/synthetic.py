"""Tasks ``counting-ones``, ``mf-hartmann-3`` and ``mf-hartmann-6``: cheap BOHB benchmarks.

The problems are :mod:`benchmarks.synthetic`'s. Every evaluation draws fresh noise (no common
random numbers across rungs), as in the BOHB paper's experiments.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from autorl.tasks.base import IncumbentWriter, Task, TaskOptions
from benchmarks.synthetic import SyntheticProblem, counting_ones_problem, mf_hartmann_problem
from meta.files import write_json_atomic


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


def synthetic_task(name: str, problem: SyntheticProblem) -> Task:
    """A task around one of the problems of :mod:`benchmarks.synthetic`."""
    return Task(
        name=name,
        space=problem.make_space(None),
        objective=problem.evaluate,
        min_budget=problem.min_budget,
        max_budget=problem.max_budget,
        eta=problem.eta,
        budget_unit="draws" if name == "counting-ones" else "fidelity",
        options={"problem": problem.name},
        write_incumbent=_synthetic_writer(problem),
    )


def build_counting_ones(name: str, options: TaskOptions) -> Task:
    """Counting ones with ``options.dims`` categorical and continuous parameters each."""
    if options.dims < 1:
        raise ValueError(f"--dims must be >= 1, got {options.dims}")
    return synthetic_task(name, counting_ones_problem(options.dims, options.dims))


def build_mf_hartmann(name: str, options: TaskOptions) -> Task:
    """MF-Hartmann in 3 or 6 dimensions (the number ends the task name)."""
    return synthetic_task(name, mf_hartmann_problem(int(name[-1])))

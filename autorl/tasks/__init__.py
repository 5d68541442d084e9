"""The tasks ``autorl optimize`` can run, by name (a registry; one module per task).

- ``rna-learna`` (:mod:`autorl.tasks.rna_learna`): LEARNA's space on RNA targets; budget =
  design seconds or episodes per target.
- ``rna-meta-learna`` (:mod:`autorl.tasks.rna_meta_learna`): the Meta-LEARNA space; budget =
  seconds of meta-training; loss = the trained policy's validation result.
- ``counting-ones``, ``mf-hartmann-3``, ``mf-hartmann-6`` (:mod:`autorl.tasks.synthetic`):
  the cheap multi-fidelity benchmarks of :mod:`benchmarks.synthetic`.

Adding a task means adding a module with a ``build(name, options) -> Task`` and one
:class:`TaskSpec` line below. Factories are imported when the task is built, so naming the
tasks (``--help``) imports none of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from autorl.tasks.base import IncumbentWriter, Task, TaskOptions, TaskSpec


def _lazy(module: str, function: str = "build") -> Callable[[str, TaskOptions], Task]:
    def build(name: str, options: TaskOptions) -> Task:
        return getattr(importlib.import_module(module), function)(name, options)

    return build


REGISTRY: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "rna-learna",
            _lazy("autorl.tasks.rna_learna"),
            "LEARNA on RNA targets; budget: design seconds or episodes per target",
            ("targets", "device"),
            ("seconds", "episodes"),
        ),
        TaskSpec(
            "rna-meta-learna",
            _lazy("autorl.tasks.rna_meta_learna"),
            "Meta-LEARNA meta-training; budget: seconds of training",
            ("targets", "device"),
            ("seconds",),
        ),
        TaskSpec(
            "counting-ones",
            _lazy("autorl.tasks.synthetic", "build_counting_ones"),
            "the BOHB paper's counting ones; budget: Bernoulli draws",
            ("dims",),
            ("draws",),
        ),
        TaskSpec(
            "mf-hartmann-3",
            _lazy("autorl.tasks.synthetic", "build_mf_hartmann"),
            "multi-fidelity Hartmann 3-d; budget: fidelity 3..100",
            (),
            ("fidelity",),
        ),
        TaskSpec(
            "mf-hartmann-6",
            _lazy("autorl.tasks.synthetic", "build_mf_hartmann"),
            "multi-fidelity Hartmann 6-d; budget: fidelity 3..100",
            (),
            ("fidelity",),
        ),
    )
}
#: Task names, in registry order.
TASKS = tuple(REGISTRY)


def make_task(name: str, options: TaskOptions | None = None, **kwargs: object) -> Task:
    """Build the task ``name`` with ``options`` (or the :class:`TaskOptions` fields as kwargs).

    Raises:
        ValueError: unknown task, an option the task does not read, or an unknown unit.
    """
    spec = REGISTRY.get(name)
    if spec is None:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    if options is None:
        options = TaskOptions(**kwargs)  # type: ignore[arg-type]
    unit = options.budget_unit
    if unit is not None and unit not in spec.budget_units:
        raise ValueError(
            f"--budget-unit {unit}: task {name} counts its budget in "
            f"{' or '.join(spec.budget_units)}"
        )
    return spec.build(name, options)


__all__ = ["REGISTRY", "TASKS", "IncumbentWriter", "Task", "TaskOptions", "TaskSpec", "make_task"]

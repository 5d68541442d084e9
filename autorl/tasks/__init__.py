"""The tasks ``autorl optimize`` can run, by name (a registry; one module per task).

- ``rna-learna`` (:mod:`autorl.tasks.rna_learna`): LEARNA's space on RNA targets; budget =
  design seconds or episodes per target.
- ``rna-meta-learna`` (:mod:`autorl.tasks.rna_meta_learna`): the Meta-LEARNA space; budget =
  seconds of meta-training; loss = the trained policy's validation result.
- ``cartpole`` (:mod:`autorl.tasks.cartpole`): the BOHB paper's PPO on CartPole; budget =
  training runs (1, 3, 9) or timesteps of one run; loss = episodes until solved (capped).
- ``nas`` (:mod:`autorl.tasks.nas`): the NAS controller's PPO settings and LSTM size;
  budget = distinct child evaluations of one search; loss = 1 - best validation accuracy.
- ``counting-ones``, ``mf-hartmann-3``, ``mf-hartmann-6`` (:mod:`autorl.tasks.synthetic`):
  the cheap multi-fidelity benchmarks of :mod:`benchmarks.synthetic`.

Adding a task means adding a module with a ``build(name, options) -> Task`` and one line in
``_TABLE`` below. Factories are imported when the task is built, so naming the tasks
(``--help``) imports none of them. :mod:`autorl.tasks.base` (which imports ConfigSpace) is
imported on first use of ``REGISTRY``, ``Task``, ``TaskOptions``, ``TaskSpec``,
``IncumbentWriter`` or :func:`make_task`; ``TASKS`` and ``SUMMARIES`` need none of it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autorl.tasks.base import IncumbentWriter, Task, TaskOptions, TaskSpec

#: name -> (factory module, factory function, one line for ``--help``, the TaskOptions
#: fields besides ``workers`` the task reads, its budget units with the default first).
_TABLE: dict[str, tuple[str, str, str, tuple[str, ...], tuple[str, ...]]] = {
    "rna-learna": (
        "autorl.tasks.rna_learna",
        "build",
        "LEARNA on RNA targets; budget: design seconds or episodes per target",
        ("targets", "device"),
        ("seconds", "episodes"),
    ),
    "rna-meta-learna": (
        "autorl.tasks.rna_meta_learna",
        "build",
        "Meta-LEARNA meta-training; budget: seconds of training",
        ("targets", "device"),
        ("seconds",),
    ),
    "cartpole": (
        "autorl.tasks.cartpole",
        "build",
        "the BOHB paper's PPO on CartPole; budget: training runs or timesteps of one run",
        (),
        ("runs", "timesteps"),
    ),
    "nas": (
        "autorl.tasks.nas",
        "build",
        "the NAS controller's PPO and LSTM settings; budget: child evaluations of one search",
        ("dataset", "device"),
        ("evaluations",),
    ),
    "counting-ones": (
        "autorl.tasks.synthetic",
        "build_counting_ones",
        "the BOHB paper's counting ones; budget: Bernoulli draws",
        ("dims",),
        ("draws",),
    ),
    "mf-hartmann-3": (
        "autorl.tasks.synthetic",
        "build_mf_hartmann",
        "multi-fidelity Hartmann 3-d; budget: fidelity 3..100",
        (),
        ("fidelity",),
    ),
    "mf-hartmann-6": (
        "autorl.tasks.synthetic",
        "build_mf_hartmann",
        "multi-fidelity Hartmann 6-d; budget: fidelity 3..100",
        (),
        ("fidelity",),
    ),
}
#: Task names, in registry order.
TASKS = tuple(_TABLE)
#: Each task's one-line summary (for ``--help``), in registry order.
SUMMARIES = {name: row[2] for name, row in _TABLE.items()}

_BASE_NAMES = ("IncumbentWriter", "Task", "TaskOptions", "TaskSpec")


def _lazy(module: str, function: str = "build") -> Callable[[str, TaskOptions], Task]:
    def build(name: str, options: TaskOptions) -> Task:
        return getattr(importlib.import_module(module), function)(name, options)

    return build


def _registry() -> dict[str, TaskSpec]:
    """``REGISTRY``: built (with :mod:`autorl.tasks.base`) on first use, then the same dict."""
    registry = globals().get("REGISTRY")
    if registry is None:
        from autorl.tasks.base import TaskSpec

        registry = {
            name: TaskSpec(name, _lazy(module, function), summary, options, units)
            for name, (module, function, summary, options, units) in _TABLE.items()
        }
        globals()["REGISTRY"] = registry
    return registry


def __getattr__(name: str) -> Any:
    if name == "REGISTRY":
        return _registry()
    if name in _BASE_NAMES:
        return getattr(importlib.import_module("autorl.tasks.base"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_task(name: str, options: TaskOptions | None = None, **kwargs: object) -> Task:
    """Build the task ``name`` with ``options`` (or the :class:`TaskOptions` fields as kwargs).

    Raises:
        ValueError: unknown task, an option the task does not read, or an unknown unit.
    """
    spec = _registry().get(name)
    if spec is None:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    if options is None:
        from autorl.tasks.base import TaskOptions

        options = TaskOptions(**kwargs)  # type: ignore[arg-type]
    unit = options.budget_unit
    if unit is not None and unit not in spec.budget_units:
        raise ValueError(
            f"--budget-unit {unit}: task {name} counts its budget in "
            f"{' or '.join(spec.budget_units)}"
        )
    return spec.build(name, options)


__all__ = [
    "REGISTRY",
    "SUMMARIES",
    "TASKS",
    "IncumbentWriter",
    "Task",
    "TaskOptions",
    "TaskSpec",
    "make_task",
]

"""SAMFEO (Zhou et al., ISMB 2023) as a benchmark peer, run from the user's own checkout.

SAMFEO (https://github.com/shanry/SAMFEO) samples mutations guided by the positional
ensemble defect over a frontier of the k best sequences; it is the strongest peer the
team has measured. It is not packaged, so ``autorl benchmark --method samfeo`` imports
``main.py`` and ``utils/vienna.py`` from a clone of that repository named by
``$AUTORL_SAMFEO``, and runs its own ``samfeo()`` function under the benchmark runner:
one process per target, the same hard time limit, results verified by the same fresh
ViennaRNA fold as every other method's. Nothing of SAMFEO is copied into autorl.

The run uses SAMFEO's published settings (its README's batch command): the probability
objective (``--object pd``), a frontier of ``k`` 10 at temperature 1, targeted
initialization with C-G and G-C pairs (``--init cg``), structured mutation, at most 5000
steps, stopping after 2000 steps without improvement. SAMFEO runs once and stops; within a
time budget that would leave time unused, so a run that stops unsolved is restarted with
the next seed (``seed + 2021 * restarts``, as SAMFEO's ``--repeat`` derives its seeds)
until the limit. A design counts as solved when its ViennaRNA MFE structure is the target
(SAMFEO's own check also accepts a tie in which the target is one of several MFE
structures; the benchmark's does not). SAMFEO has no sequence constraints and uses
ViennaRNA's default energy model, so the runner refuses both for this method.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks.baselines import BaselineResult
from envs.constraints import DesignConstraints
from envs.dot_bracket import Target
from envs.folding import EnergyModel, hamming, mfe_structure

#: The environment variable naming the SAMFEO checkout.
SAMFEO_ENV = "AUTORL_SAMFEO"
#: The files the method imports from the checkout.
SAMFEO_FILES = ("main.py", "utils/vienna.py")
#: SAMFEO's published settings: steps, frontier size, temperature, initialization.
STEPS = 5000
FRONTIER = 10
TEMPERATURE = 1.0
INIT = "cg"
#: The step between the seeds of SAMFEO's repeated runs (its ``--repeat``).
SEED_STEP = 2021
_WHERE = f"set {SAMFEO_ENV} to a clone of https://github.com/shanry/SAMFEO"


class _Stop(Exception):
    """Raised inside SAMFEO's loop to end it: solved, or out of time."""


def samfeo_checkout(path: str | os.PathLike[str] | None = None) -> Path:
    """The SAMFEO checkout to run, checked for the files the method imports.

    Args:
        path: The checkout (None: ``$AUTORL_SAMFEO``).

    Raises:
        ValueError: no checkout is named, or it lacks one of :data:`SAMFEO_FILES`.
    """
    named = path if path is not None else os.environ.get(SAMFEO_ENV, "")
    if not str(named).strip():
        raise ValueError(f"method 'samfeo' runs SAMFEO from its own checkout: {_WHERE}")
    checkout = Path(named).expanduser()
    missing = [name for name in SAMFEO_FILES if not (checkout / name).is_file()]
    if missing:
        raise ValueError(f"{SAMFEO_ENV}={named}: no {' and no '.join(missing)} there; {_WHERE}")
    return checkout.resolve()


def samfeo_version(checkout: Path) -> str:
    """The SAMFEO code run, as recorded in every result row's ``model`` column.

    ``samfeo:`` and the first 12 hex digits of the sha256 of its :data:`SAMFEO_FILES`.
    """
    digest = hashlib.sha256()
    for name in SAMFEO_FILES:
        digest.update((checkout / name).read_bytes())
    return f"samfeo:{digest.hexdigest()[:12]}"


def check_samfeo_run(
    constraints: DesignConstraints, constraint_fraction: float, energy: EnergyModel
) -> None:
    """Refuse what SAMFEO cannot do: sequence, GC or motif constraints, other energy models.

    Raises:
        ValueError: naming the setting.
    """
    if constraint_fraction or not constraints.empty:
        raise ValueError(
            "method 'samfeo' takes no constraints (--gc, --forbid, --constraint-fraction): "
            "SAMFEO designs without them"
        )
    if not energy.is_default:
        raise ValueError(
            "method 'samfeo' folds with ViennaRNA's default energy model; drop --temperature, "
            "--energy-params, --dangles and --no-lonely-pairs"
        )


def import_samfeo(checkout: Path) -> tuple[ModuleType, Callable[..., Any]]:
    """Import SAMFEO's ``main`` module and its probability objective from ``checkout``.

    The checkout goes first on ``sys.path`` (``main.py`` imports its ``utils`` package);
    a ``utils`` imported earlier from elsewhere is dropped first.

    Returns:
        The module and ``utils.vienna.position_ed_pd_mfe``.
    """
    for name in [name for name in sys.modules if name == "utils" or name.startswith("utils.")]:
        origin = getattr(sys.modules[name], "__file__", None) or ""
        if not Path(origin).resolve().is_relative_to(checkout):
            del sys.modules[name]
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    spec = importlib.util.spec_from_file_location("samfeo_main", checkout / "main.py")
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import {checkout / 'main.py'}")
    module = importlib.util.module_from_spec(spec)
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        spec.loader.exec_module(module)
    objective = importlib.import_module("utils.vienna").position_ed_pd_mfe
    return module, objective


def run_samfeo(
    module: ModuleType,
    objective: Callable[..., Any],
    target: Target,
    *,
    time_limit: float,
    seed: int = 0,
    on_improvement: Callable[[BaselineResult], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> BaselineResult:
    """Run SAMFEO's ``samfeo()`` on ``target`` until solved or out of time.

    Every sequence SAMFEO evaluates passes through a wrapper of its objective that scores
    the design as the benchmark does (the Hamming distance of its ViennaRNA MFE structure
    to the target), reports each improvement, and ends the run when the design is solved
    or the clock has passed the limit (between two evaluations: one evaluation may
    overrun, and the runner's hard limit cuts it off).

    Args:
        module: SAMFEO's ``main`` (:func:`import_samfeo`).
        objective: Its ``position_ed_pd_mfe``.
        target: The target (unconstrained).
        time_limit: Seconds.
        seed: The first run's seed (SAMFEO's ``seed_np``).
        on_improvement: Called with each new best design.
        clock: Seconds, monotonic (a test's fake clock).

    Returns:
        The best design (an empty sequence if SAMFEO evaluated none in time).

    Raises:
        ValueError: the target has a sequence constraint, or the limit is not positive.
    """
    if target.constraint is not None:
        raise ValueError(f"target {target.id}: method 'samfeo' takes no sequence constraints")
    if time_limit <= 0:
        raise ValueError(f"time_limit must be positive, got {time_limit}")
    structure = target.structure
    start = clock()
    best: BaselineResult | None = None
    restarts = 0

    def evaluate(sequence: str, wanted: str) -> Any:
        nonlocal best
        if clock() - start >= time_limit:
            raise _Stop
        scores = objective(sequence, wanted)
        distance = _distance(sequence, scores[-1], structure)
        if best is None or distance < best.distance:
            best = BaselineResult(
                target.id, sequence, distance, distance == 0, clock() - start, restarts + 1
            )
            if on_improvement is not None:
                on_improvement(best)
            if distance == 0:
                raise _Stop
        return scores

    evaluate.__name__ = getattr(objective, "__name__", "objective")  # SAMFEO prints it
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        while clock() - start < time_limit:
            module.seed_np = (seed + SEED_STEP * restarts) % 2**32
            module.name_pair = INIT
            try:
                module.samfeo(structure, evaluate, STEPS, k=FRONTIER, t=TEMPERATURE)
            except _Stop:
                break
            finally:
                restarts += 1
    if best is None:
        return BaselineResult(target.id, "", len(structure), False, 0.0, restarts)
    return BaselineResult(
        target.id, best.sequence, best.distance, best.solved, best.seconds, restarts
    )


def _distance(sequence: str, mfe_structures: list[str], structure: str) -> int:
    """The benchmark's distance: of the one MFE structure ViennaRNA's fold returns.

    SAMFEO lists every co-optimal MFE structure; with one, it is the fold's; with a tie,
    the fold decides.
    """
    folded = mfe_structures[0] if len(mfe_structures) == 1 else mfe_structure(sequence)
    return hamming(folded, structure)


def load_samfeo(
    method: str,
    settings: dict[str, Any],
    model: str = "",
    constraints: DesignConstraints | None = None,
    energy: EnergyModel | None = None,
) -> Callable[..., BaselineResult]:
    """Solver factory of the ``samfeo`` peer (see ``benchmarks.runner.SOLVERS``).

    Imports SAMFEO from ``$AUTORL_SAMFEO`` before the job's clock starts.
    """
    check_samfeo_run(constraints or DesignConstraints(), 0.0, energy or EnergyModel())
    module, objective = import_samfeo(samfeo_checkout())

    def solve(target: Target, **kwargs: Any) -> BaselineResult:
        return run_samfeo(module, objective, target, **kwargs)

    return solve

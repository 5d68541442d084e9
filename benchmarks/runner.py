"""The benchmark runner: one process per (target, run), with a hard time limit.

A job is one unit of an executor (:mod:`envs.execution`) that runs :func:`run_job`: the
job runs in a fresh ``spawn`` child that reports its best design to its supervisor over a
pipe whenever it improves. The supervisor starts the job's clock when the child says it is
ready (imports done), and terminates the child ``grace`` seconds after its time limit:
RNAinverse cannot be interrupted in-process, and no method is trusted to stop on its own.
A terminated job keeps the best design it reported. Every finished job is appended at
once, as one whole line, to ``results.csv``; with ``resume`` the jobs already there are
skipped. A call that runs jobs also appends how fast this machine folds, before the jobs
and after them, to ``machine.jsonl`` (:mod:`benchmarks.machine`).

Locally the units run in ``workers`` persistent worker processes
(:class:`envs.execution.ProcessExecutor`), each supervising one job at a time, with
:func:`backstop_seconds` as the unit's timeout in case a supervisor itself hangs. With a
Ray backend (:mod:`benchmarks.ray_jobs`) the same units are Ray tasks; either way this
process writes every row.

A design counts as solved only if the parent refolds it into the target (under the run's
energy model), it satisfies the run's constraints, and it was found within the time limit.
The parent also scores it (target probability, ensemble defect, GC content) for results.csv.

Constraints: a target may carry an IUPAC constraint of its own; ``constraint_fraction``
gives every other target a generated one (:func:`benchmark_constraint`: that share of its
unpaired sites fixed to random bases, seeded by the base seed and the target id, so every
method and run sees the same constraint); GC and motif rules apply to all targets.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib
import json
import logging
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.machine import record_calibration
from benchmarks.results import (
    append_result,
    problem_columns,
    read_results,
    upgrade_results,
    version_columns,
)
from envs.constraints import (
    DesignConstraints,
    check_feasible,
    random_constraint,
)
from envs.dot_bracket import Target
from envs.execution import Done, ProcessExecutor, Unit
from envs.folding import EnergyModel, check_energy_model
from envs.rna_instances import RnaDesignEvaluation, design_score, is_solved
from meta.cluster import Backend, backend_session

logger = logging.getLogger(__name__)

#: Methods the runner knows: the baselines ``rnainverse`` (ours, on ViennaRNA's RNAinverse)
#: and ``samfeo`` (the peer, from the user's checkout), the others from meta.design
#: (``stages``: its stages without a policy, the ablation baseline).
METHODS = ("learna", "meta-learna", "meta-learna-adapt", "rnainverse", "samfeo", "stages")
#: The methods that are not LEARNA's: no ``--config``, no stage options.
BASELINES = ("rnainverse", "samfeo")
#: The methods that start from a meta-trained checkpoint (``--model``).
META_METHODS = ("meta-learna", "meta-learna-adapt")


@dataclass(frozen=True)
class RunnerConfig:
    """Settings of one benchmark run.

    Attributes:
        method: One of :data:`METHODS`.
        time_limit: Seconds per (target, run).
        runs: Independent runs per target.
        workers: Jobs that run at the same time, one process (core) each; None: 1 locally,
            one per CPU of the cluster on Ray.
        seed: Base seed; each job's seed is derived from it, the target id and the run.
        resume: Skip the jobs already recorded in results.csv.
        grace: Seconds past the limit before a job is terminated.
        startup_timeout: Seconds a worker may take to start (imports) before it is killed.
        settings: Flat agent settings (``--config``) applied to the LEARNA methods' defaults
            (the checkpoint's configuration for the meta methods); recorded in every row, and
            a resume must use the same.
        model: The checkpoint zip of the meta methods ("" for the shipped model).
        constraint_fraction: Share of the unpaired sites of every target without its own
            constraint that a generated IUPAC constraint fixes (0: none).
        constraints: GC-content and forbidden-motif rules for every design.
        energy: The energy model designs are made, verified and scored under.
    """

    method: str
    time_limit: float = 60.0
    runs: int = 1
    workers: int | None = None
    seed: int = 0
    resume: bool = False
    grace: float = 1.0
    startup_timeout: float = 300.0
    settings: tuple[tuple[str, Any], ...] = ()
    model: str = ""
    constraint_fraction: float = 0.0
    constraints: DesignConstraints = field(default_factory=DesignConstraints)
    energy: EnergyModel = field(default_factory=EnergyModel)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if not (math.isfinite(self.time_limit) and self.time_limit > 0):
            raise ValueError(
                f"--time-limit must be a positive number of seconds, got {self.time_limit}"
            )
        if self.runs < 1:
            raise ValueError(f"--runs must be >= 1, got {self.runs}")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}")
        if self.settings and self.method in BASELINES:
            raise ValueError(f"--config applies to the LEARNA methods, not to {self.method}")
        if self.model and self.method not in META_METHODS:
            raise ValueError(
                f"--model applies to {' and '.join(META_METHODS)}, not to {self.method}"
            )
        if self.grace < 0 or self.startup_timeout <= 0:
            raise ValueError("grace must be >= 0 and startup_timeout > 0")
        if not 0.0 <= self.constraint_fraction <= 1.0:
            raise ValueError(
                f"--constraint-fraction must be in [0, 1], got {self.constraint_fraction}"
            )
        if self.constraints.sequence is not None:
            raise ValueError("sequence constraints come from the targets, not the run settings")
        if self.method == "stages":
            _check_stages_run(self.settings)
        if self.method == "samfeo":
            from benchmarks.samfeo import check_samfeo_run

            check_samfeo_run(self.constraints, self.constraint_fraction, self.energy)


def _check_stages_run(settings: tuple[tuple[str, Any], ...]) -> None:
    """Refuse a ``stages`` run whose settings turn the ensemble stage off, before any job.

    Raises:
        ValueError: the settings' ``ensemble_share`` (over LEARNA's configuration) is 0.
    """
    from meta.config import LEARNA

    if LEARNA.updated(dict(settings), source="--config").env.ensemble_share == 0:
        raise ValueError(
            "--method stages is the ensemble stage without a policy: an ensemble_share of 0 "
            "(--ensemble-share or --config) would turn it off"
        )


@dataclass(frozen=True)
class Job:
    """One (target, run) of a benchmark."""

    dataset: str
    target: Target
    method: str
    run: int
    seed: int

    @property
    def key(self) -> tuple[str, str, str, int]:
        """Identity of the job in results.csv."""
        return (self.dataset, self.target.id, self.method, self.run)


def settings_json(settings: Iterable[tuple[str, Any]]) -> str:
    """The ``config`` column: the settings as compact, key-sorted JSON ("" for none)."""
    settings = dict(settings)
    return json.dumps(settings, sort_keys=True, separators=(",", ":")) if settings else ""


def benchmark_constraint(structure: str, fraction: float, base_seed: int, target_id: str) -> str:
    """The generated IUPAC constraint of one target (the same for every method and run).

    ``round(fraction * unpaired sites)`` unpaired sites, chosen at random, are fixed to
    uniformly random bases; the rest stay ``N``. The generator is seeded by a hash of the
    base seed and the target id.
    """
    digest = hashlib.sha256(f"constraint:{base_seed}:{target_id}".encode()).digest()
    return random_constraint(structure, fraction, np.random.default_rng(list(digest[:8])))


def constrain_targets(targets: Sequence[Target], config: RunnerConfig) -> list[Target]:
    """The targets with their constraints, every one checked for feasibility.

    Raises:
        ValueError: a target's constraints cannot be met (naming it and the positions), or
            the method (``samfeo``) takes none.
    """
    result = []
    for target in targets:
        if target.constraint is not None and config.method == "samfeo":
            raise ValueError(
                f"target {target.id} has a sequence constraint; method 'samfeo' takes none"
            )
        if target.constraint is None and config.constraint_fraction > 0:
            code = benchmark_constraint(
                target.structure, config.constraint_fraction, config.seed, target.id
            )
            target = Target(target.id, target.structure, code)
        rules = config.constraints.with_sequence(target.constraint)
        check_feasible(target.structure, rules, source=f"target {target.id}")
        result.append(target)
    return result


def job_seed(base_seed: int, target_id: str, run: int) -> int:
    """The seed of one job: a hash of the base seed, the target id and the run (< 2**31)."""
    digest = hashlib.sha256(f"{base_seed}:{target_id}:{run}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def check_method(method: str) -> None:
    """Refuse a method that is unknown or whose implementation has not landed.

    Raises:
        ValueError: the method is unknown, or meta.design does not implement it.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "rnainverse":
        return
    if method == "samfeo":
        from benchmarks.samfeo import samfeo_checkout

        samfeo_checkout()
        return
    try:
        from meta.design import METHODS as implemented
    except ModuleNotFoundError as error:
        if error.name not in ("meta.design", "meta"):
            raise
        raise ValueError(
            f"method {method!r} is not available: the design loop (meta.design) is not installed"
        ) from None
    if method not in implemented:
        available = ", ".join((*implemented, *BASELINES))
        raise ValueError(
            f"method {method!r} is not implemented yet in this version of autorl (it needs a "
            f"meta-trained model); it is refused rather than run as something else. "
            f"Available methods: {available}"
        )


def plan_jobs(
    dataset: str,
    targets: Sequence[Target],
    config: RunnerConfig,
    existing: Iterable[dict],
    model: str = "",
) -> list[Job]:
    """The jobs still to run, runs in the outer loop.

    Args:
        dataset: Dataset name recorded in results.csv.
        targets: The selected targets.
        config: The run settings.
        existing: Rows already in results.csv.
        model: The ``model`` column of this run (:func:`model_id`).

    Returns:
        The jobs not yet finished (jobs recorded with status ``error`` are run again).

    Raises:
        ValueError: finished jobs exist but ``resume`` is off, or they were run with another
            time limit or seed.
    """
    jobs = [
        Job(dataset, target, config.method, run, job_seed(config.seed, target.id, run))
        for run in range(config.runs)
        for target in targets
    ]
    wanted = {job.key: job for job in jobs}
    finished = set()
    for row in existing:
        key = (row["dataset"], row["target_id"], row["method"], int(row["run"]))
        if key not in wanted or row["status"] == "error":
            continue
        job = wanted[key]
        if float(row["time_limit"]) != config.time_limit:
            raise ValueError(
                f"{dataset}/{config.method} target {job.target.id} run {job.run} was recorded "
                f"with --time-limit {row['time_limit']}, not {config.time_limit:g}; use the "
                "same limit to resume, or another --out"
            )
        if row["config"] != settings_json(config.settings):
            raise ValueError(
                f"{dataset}/{config.method} target {job.target.id} run {job.run} was recorded "
                f"with --config settings {row['config'] or '(none)'}; resume with the same "
                "settings, or use another --out"
            )
        if row.get("model", "") != model:
            raise ValueError(
                f"{dataset}/{config.method} target {job.target.id} run {job.run} was recorded "
                f"with model {row.get('model') or '(none)'}, not {model or '(none)'}; resume "
                "with the same --model, or use another --out"
            )
        mine = problem_columns(job.target.constraint, config.constraints, config.energy)
        theirs = {name: row.get(name, "") for name in mine}
        if not theirs["temperature"]:  # a row of an earlier version: no constraints, defaults
            theirs = problem_columns(None, DesignConstraints(), EnergyModel())
        if theirs != mine:
            raise ValueError(
                f"{dataset}/{config.method} target {job.target.id} run {job.run} was recorded "
                "with other constraints or another energy model; resume with the same "
                "settings, or use another --out"
            )
        if int(row["seed"]) != job.seed:
            raise ValueError(
                f"{dataset}/{config.method} target {job.target.id} run {job.run} was recorded "
                "with another --seed; use the same --seed to resume, or another --out"
            )
        finished.add(key)
    if finished and not config.resume:
        raise ValueError(
            f"the results directory already has {len(finished)} finished jobs of "
            f"{dataset}/{config.method}; pass --resume to skip them, or choose another --out"
        )
    return [job for job in jobs if job.key not in finished]


# ----------------------------------------------------------------------------- the child


def model_id(config: RunnerConfig) -> str:
    """The ``model`` column: which checkpoint a meta method used, or which SAMFEO code.

    ``shipped:<sha256 prefix>`` for the shipped model, else ``<path>:<sha256 prefix>``;
    ``samfeo:<sha256 prefix>`` of the SAMFEO checkout's code; "" for other methods.

    Raises:
        meta.checkpoints.CheckpointError: the checkpoint is missing or corrupt.
    """
    if config.method == "samfeo":
        from benchmarks.samfeo import samfeo_checkout, samfeo_version

        return samfeo_version(samfeo_checkout())
    if config.method not in META_METHODS:
        return ""
    from meta.checkpoints import load_checkpoint

    checkpoint = load_checkpoint(config.model or None)
    from meta.files import file_sha256

    return f"{config.model or 'shipped'}:{file_sha256(checkpoint.path)[:12]}"


def load_rnainverse(
    method: str,
    settings: dict[str, Any],
    model: str = "",
    constraints: DesignConstraints | None = None,
    energy: EnergyModel | None = None,
) -> Callable[..., Any]:
    """Solver factory of the ``rnainverse`` baseline (see :data:`SOLVERS`)."""
    import functools

    from benchmarks.baselines import rnainverse

    return functools.partial(rnainverse, constraints=constraints, energy=energy)


def load_design(
    method: str,
    settings: dict[str, Any],
    model: str = "",
    constraints: DesignConstraints | None = None,
    energy: EnergyModel | None = None,
) -> Callable[..., Any]:
    """Solver factory of the LEARNA methods: :func:`meta.design.design` (see :data:`SOLVERS`).

    The meta methods load their checkpoint here, before the job's clock starts.
    """
    from meta.checkpoints import load_checkpoint
    from meta.config import LEARNA
    from meta.design import check_weights, design, warm_up

    checkpoint = load_checkpoint(model or None) if method in META_METHODS else None
    base = checkpoint.config if checkpoint is not None else LEARNA
    config = base.updated(settings, source="--config")
    warm_up()
    if checkpoint is not None:
        check_weights(config, checkpoint)

    def solve(target: Target, **kwargs: Any) -> Any:
        return design(
            target,
            method=method,
            config=config,
            workers=1,
            model=checkpoint,
            constraints=constraints,
            energy=energy,
            metrics=False,
            **kwargs,
        )

    return solve


#: Where a job's process finds its method: ``"module:factory"``, imported in the child;
#: ``factory(method, settings, model, constraints, energy)`` returns ``solve(target, *,
#: time_limit, seed, on_improvement)``, whose result (and every improvement) has
#: ``sequence`` and ``distance``; every reported design must satisfy the constraints.
#: Imports happen before the job's clock starts.
SOLVERS: dict[str, str] = {
    "learna": "benchmarks.runner:load_design",
    "meta-learna": "benchmarks.runner:load_design",
    "meta-learna-adapt": "benchmarks.runner:load_design",
    "rnainverse": "benchmarks.runner:load_rnainverse",
    "samfeo": "benchmarks.samfeo:load_samfeo",
    "stages": "benchmarks.runner:load_design",
}


def _snapshot(result: Any, seconds: float) -> dict[str, Any]:
    """What the parent keeps of a result: design, distance, time, and the stage behind it."""
    return {
        "sequence": result.sequence,
        "distance": int(result.distance),
        "seconds": seconds,
        "found_by": str(getattr(result, "found_by", "")),  # RNAinverse has no stages
    }


def _isolate(parent: int) -> None:
    """Give the job its own process group, and (on Linux) let it die with the parent."""
    if hasattr(os, "setsid"):
        os.setsid()  # the parent stops the whole group, grandchildren included
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before that
        os._exit(1)


def _child_main(
    conn: Connection,
    solver: str,
    method: str,
    settings: dict[str, Any],
    model: str,
    target: Target,
    time_limit: float,
    seed: int,
    parent: int,
    constraints: DesignConstraints | None = None,
    energy: EnergyModel | None = None,
) -> None:
    """Entry point of a job's process: design, reporting every improvement to the parent."""
    _isolate(parent)
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"  # one core per job
    try:
        module, _, factory = solver.partition(":")
        solve = getattr(importlib.import_module(module), factory)(
            method, settings, model, constraints, energy
        )
        start = time.monotonic()
        conn.send(("ready", start))

        def report(result: Any) -> None:
            conn.send(("best", _snapshot(result, time.monotonic() - start)))

        result = solve(target, time_limit=time_limit, seed=seed, on_improvement=report)
        conn.send(("done", _snapshot(result, time.monotonic() - start)))
    except BaseException:  # noqa: BLE001 - everything is reported to the parent
        conn.send(("error", traceback.format_exc(limit=5)))
    finally:
        conn.close()


# ----------------------------------------------------------------------------- the parent


#: Seconds between the steps of stopping a job's process (SIGTERM, then SIGKILL).
KILL_AFTER = 2.0
#: Seconds of slack in every job's backstop deadline, on top of the job's own budget
#: (scheduling, starting a worker or a Ray task, returning the result).
DEADLINE_MARGIN = 30.0
#: How often the supervisors look at their jobs and the driver reports (seconds, at most).
POLL = 0.5
_SIGKILL = getattr(signal, "SIGKILL", signal.SIGTERM)  # Windows has only TerminateProcess


@dataclass(frozen=True)
class JobOutcome:
    """How one job ended: everything the row of results.csv needs besides the job itself.

    Picklable, and free of clock readings of the machine it ran on (a Ray task returns it).

    Attributes:
        best: The best design reported (``sequence``, ``distance``, ``seconds``), if any.
        solved_at: Seconds from the job's start to its first design at distance 0.
        status: ``finished``, ``timeout`` or ``error``.
        error: What went wrong (or, after a retry, what the retry was for).
        elapsed: Seconds from the job's start to its end (0 if it never started).
        backend: Where it ran: ``local``, or ``ray:<node address>``.
    """

    best: dict[str, Any] | None
    solved_at: float | None
    status: str
    error: str = ""
    elapsed: float = 0.0
    backend: str = "local"


@dataclass
class _Running:
    """A job in flight and what the parent knows of it.

    ``started`` is the job's clock origin, taken by the child when it is ready (monotonic
    clocks are system-wide); ``ended`` is when the parent found the job over.
    """

    job: Job
    process: Any
    conn: Connection
    spawned: float
    started: float | None = None
    best: dict[str, Any] | None = None
    solved_at: float | None = None
    status: str = ""
    error: str = ""
    ended: float | None = None
    signals: list[tuple[float, int]] = field(default_factory=list)

    def deadline(self, config: RunnerConfig) -> float:
        if self.started is None:
            return self.spawned + config.startup_timeout
        return self.started + config.time_limit + config.grace

    def next_event(self, config: RunnerConfig) -> float:
        if self.ended is None:
            return self.deadline(config)
        return self.signals[0][0] if self.signals else math.inf

    def outcome(self) -> JobOutcome:
        """The job's outcome (once it is over)."""
        ended = self.ended or time.monotonic()
        elapsed = ended - self.started if self.started is not None else 0.0
        return JobOutcome(self.best, self.solved_at, self.status, self.error, elapsed)


def _start(context: Any, job: Job, config: RunnerConfig, solver: str | None = None) -> _Running:
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_child_main,
        args=(
            sender,
            solver or SOLVERS[job.method],
            job.method,
            dict(config.settings),
            config.model,
            job.target,
            config.time_limit,
            job.seed,
            os.getpid(),
            config.constraints,
            config.energy,
        ),
        name=f"autorl-benchmark-{job.target.id}-{job.run}",
        daemon=True,
    )
    process.start()
    sender.close()
    return _Running(job, process, receiver, spawned=time.monotonic())


def _offer(running: _Running, snapshot: dict[str, Any]) -> None:
    """Keep ``snapshot`` if it is the best design so far (an empty one is no design)."""
    if not snapshot["sequence"]:
        return
    best = running.best
    if best is None or snapshot["distance"] < best["distance"]:
        running.best = snapshot
    if snapshot["distance"] == 0 and running.solved_at is None:
        running.solved_at = snapshot["seconds"]


def _drain(running: _Running) -> None:
    """Read every message the child has sent so far."""
    while not running.conn.closed:
        try:
            if not running.conn.poll():
                return
            kind, payload = running.conn.recv()
        except (EOFError, OSError):
            running.conn.close()
            return
        except Exception as error:  # noqa: BLE001 - a message cut off by terminate()
            logger.debug("job %s: unreadable message: %r", running.job.key, error)
            running.conn.close()
            return
        if kind == "ready":
            running.started = min(max(payload, running.spawned), time.monotonic())
        elif kind in ("best", "done"):
            _offer(running, payload)
            if kind == "done":
                running.status = running.status or "finished"
        elif kind == "error" and not running.status:
            running.status, running.error = "error", payload.strip().splitlines()[-1]
            logger.warning("job %s failed:\n%s", running.job.key, payload)


def _signal(running: _Running, sig: int) -> None:
    """Send ``sig`` to the job's process group (or to the process, before it has one)."""
    process = running.process
    try:
        os.killpg(process.pid, sig)
    except (AttributeError, ProcessLookupError, PermissionError):
        if process.is_alive() and sig == _SIGKILL:
            process.kill()
        elif process.is_alive():
            process.terminate()


def _advance(running: _Running, config: RunnerConfig, now: float) -> bool:
    """Move a job along (never blocking); return True once it is over and its process gone.

    A job is over when it reported its result or an error, when its process died, or at
    its deadline: then it is terminated, and killed ``KILL_AFTER`` seconds later if needed.
    A job that ended by itself gets ``KILL_AFTER`` seconds to exit before the same steps.
    """
    alive = running.process.is_alive()
    _drain(running)
    if running.ended is None:
        if running.status or not alive:
            running.signals = [(now + KILL_AFTER, signal.SIGTERM), (now + 2 * KILL_AFTER, _SIGKILL)]
            if not running.status:
                running.status = "error"
                running.error = f"worker exited with code {running.process.exitcode}"
        elif now >= running.deadline(config):
            if running.started is None:
                running.status = "error"
                running.error = f"worker did not start within {config.startup_timeout:g} s"
            else:
                running.status = "timeout"
            running.signals = [(now, signal.SIGTERM), (now + KILL_AFTER, _SIGKILL)]
        else:
            return False
        running.ended = now
    if alive:
        while running.signals and now >= running.signals[0][0]:
            _signal(running, running.signals.pop(0)[1])
        return False
    running.process.join()
    _drain(running)  # whatever it sent before it ended
    running.conn.close()
    return True


def _poll(running: _Running, config: RunnerConfig) -> bool:
    """Wait (at most :data:`POLL` s) for news of the job; return True once it is over."""
    now = time.monotonic()
    handles = [running.conn] if not running.conn.closed else []
    wait(
        handles + [running.process.sentinel],
        min(POLL, max(0.01, running.next_event(config) - now)),
    )
    return _advance(running, config, time.monotonic())


def _stop_now(running: _Running) -> None:
    """Terminate a job at once (used when the whole run is interrupted)."""
    for sig in (signal.SIGTERM, _SIGKILL):
        if running.process.is_alive():
            _signal(running, sig)
            running.process.join(KILL_AFTER)
    running.conn.close()


def run_job(job: Job, config: RunnerConfig, solver: str | None = None) -> JobOutcome:
    """Run one job in its own ``spawn`` child under the hard time limit; wait for its end.

    This is the body of a job's unit (:func:`job_unit`): in a local worker process or in a
    Ray task on its node (:mod:`benchmarks.ray_jobs`); an interrupt (KeyboardInterrupt,
    e.g. ``ray.cancel``) stops the child before it propagates.

    Args:
        job: The job.
        config: The run settings (time limit, grace, startup timeout, problem).
        solver: The ``"module:factory"`` of the job's method (default: :data:`SOLVERS`).

    Returns:
        How the job ended.
    """
    item = _start(multiprocessing.get_context("spawn"), job, config, solver)
    over = False
    try:
        while not over:
            over = _poll(item, config)
    finally:
        if not over:
            _stop_now(item)
    return item.outcome()


def _quality(sequence: str, target: Target, config: RunnerConfig) -> dict[str, Any]:
    """Refold and score a reported design under the run's energy model and constraints.

    The judgement is :class:`envs.rna_instances.RnaDesignEvaluation`'s, the evaluation
    protocol that design quality and the report share.
    """
    empty = dict.fromkeys(
        ("mfe_structure", "mfe_energy", "probability", "ensemble_defect", "gc_content"), ""
    )
    if not sequence:
        return {**empty, "best_distance": "", "constraints_ok": ""}
    evaluation = RnaDesignEvaluation(config.energy, config.constraints)
    metrics = evaluation.metrics(target, sequence)
    if "mfe_structure" not in metrics:
        raise ValueError(f"target {target.id}: cannot score the design: {metrics['problems'][0]}")
    return {
        "best_distance": metrics["distance"],
        "mfe_structure": metrics["mfe_structure"],
        "mfe_energy": f"{metrics['mfe_energy']:.2f}",
        "probability": f"{metrics['probability']:.6g}",
        "ensemble_defect": f"{metrics['ensemble_defect']:.6g}",
        "gc_content": f"{metrics['gc_content']:.4f}",
        "constraints_ok": int(metrics["constraints_ok"]),
    }


def _score(quality: dict[str, Any]) -> float:
    """The evaluation protocol's score of a reported design (``inf``: no design)."""
    if quality["best_distance"] == "":
        return math.inf
    return design_score(quality["best_distance"], quality["constraints_ok"] == 1)


def _result_row(
    job: Job, outcome: JobOutcome, config: RunnerConfig, versions: dict[str, str]
) -> dict:
    best = outcome.best
    structure = job.target.structure
    sequence = best["sequence"] if best else ""
    quality = _quality(sequence, job.target, config)
    solved = (
        is_solved(_score(quality))
        and outcome.solved_at is not None
        and outcome.solved_at <= config.time_limit
    )
    return {
        "dataset": job.dataset,
        "target_id": job.target.id,
        "length": len(structure),
        "method": job.method,
        "run": job.run,
        "seed": job.seed,
        "time_limit": config.time_limit,
        "solved": int(solved),
        "time_to_solve": f"{outcome.solved_at:.3f}" if solved else "",
        "sequence": sequence,
        "target": structure,
        **quality,
        **problem_columns(job.target.constraint, config.constraints, config.energy),
        "status": outcome.status,
        "elapsed": f"{outcome.elapsed:.3f}",
        "error": outcome.error,
        "config": settings_json(config.settings),
        "backend": outcome.backend,
        "found_by": best["found_by"] if best else "",
        **versions,
    }


def _interrupt_on_sigterm() -> Any:
    """Turn SIGTERM into KeyboardInterrupt (so running jobs are stopped); return the old handler."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, interrupt)


#: What the runner shows of a running job: its target id and when its clock started
#: (monotonic; None: not started yet).
RunningJob = tuple[str, float | None]


@dataclass
class Recorder:
    """The driver's side of a run: turns outcomes into rows of results.csv, and reports.

    Rows are appended by this process only, whole, as jobs end (any backend).
    """

    path: Path
    config: RunnerConfig
    versions: dict[str, str]
    total: int
    on_status: Callable[[str], None] | None = None
    on_result: Callable[[dict], None] | None = None
    written: list[dict] = field(default_factory=list)

    def record(self, job: Job, outcome: JobOutcome) -> dict:
        """Refold and score the job's best design, append its row, and return the row."""
        row = _result_row(job, outcome, self.config, self.versions)
        append_result(self.path, row)
        self.written.append(row)
        if self.on_result is not None:
            self.on_result(row)
        return row

    def status(self, running: Sequence[RunningJob]) -> None:
        """Report progress (``on_status``) with the jobs still running."""
        if self.on_status is not None:
            solved = sum(int(row["solved"]) for row in self.written)
            done = len(self.written)
            self.on_status(_status_line(self.config, done, self.total, solved, running))


def run_benchmark(
    dataset: str,
    targets: Sequence[Target],
    config: RunnerConfig,
    out_dir: str | Path,
    on_status: Callable[[str], None] | None = None,
    on_result: Callable[[dict], None] | None = None,
    backend: Backend | None = None,
) -> list[dict]:
    """Run every (target, run) job of a method, appending each result to results.csv.

    Args:
        dataset: Dataset name recorded in results.csv.
        targets: The targets to run.
        config: The run settings.
        out_dir: Results directory (created if needed).
        on_status: Called with a one-line status text while jobs run.
        on_result: Called with every row as it is written.
        backend: Where the jobs run (default: local processes). With Ray, the cluster is
            joined (or a local instance started, see :func:`meta.cluster.ray_session`)
            before anything is written.

    Returns:
        The rows written by this call.

    Raises:
        ValueError: the method is not available or the directory conflicts (see
            :func:`plan_jobs`); :class:`meta.cluster.ClusterError` if the cluster cannot be
            used.
    """
    check_method(config.method)
    check_energy_model(config.energy)
    targets = constrain_targets(targets, config)
    with backend_session(backend or Backend(), "job") as ray:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        results_path = out / "results.csv"
        model = model_id(config)
        pending = deque(plan_jobs(dataset, targets, config, read_results(results_path), model))
        upgrade_results(results_path)  # rows of an earlier version: rewritten before appending
        versions = {"model": model, **version_columns()}
        recorder = Recorder(results_path, config, versions, len(pending), on_status, on_result)
        where = "local" if ray is None else "ray"
        if pending:  # how fast this machine folds: the budgets are wall-clock seconds
            record_calibration(out, "before", where)
        previous_handler = _interrupt_on_sigterm()
        try:
            if ray is not None:
                from benchmarks.ray_jobs import run_on_ray

                run_on_ray(ray, pending, config, recorder)
            else:
                _run_local(pending, config, recorder)
        finally:
            if previous_handler is not None:
                signal.signal(signal.SIGTERM, previous_handler)
        if recorder.written:
            record_calibration(out, "after", where)
    return recorder.written


def backstop_seconds(config: RunnerConfig) -> float:
    """Seconds after its start at which a job's unit is given up on (its worker killed).

    The startup timeout, the time limit, the grace, both steps of stopping the job's
    process and :data:`DEADLINE_MARGIN`: a unit that is not back by then will not be.
    """
    return (
        config.startup_timeout + config.time_limit + config.grace + 2 * KILL_AFTER + DEADLINE_MARGIN
    )


def unit_id(job: Job) -> str:
    """A job's unit id: ``<target id>-<run>`` (unique within a run)."""
    return f"{job.target.id}-{job.run}"


def job_unit(job: Job, config: RunnerConfig, timeout: float | None = None) -> Unit:
    """The unit of a job: :func:`run_job` with the method's solver resolved here.

    The solver is looked up in this process (:data:`SOLVERS` may be changed at run time),
    and the unit declares one CPU: one core per job.

    Args:
        job: The job.
        config: The run settings the job gets.
        timeout: The unit's timeout (default: :func:`backstop_seconds`).
    """
    timeout = backstop_seconds(config) if timeout is None else timeout
    return Unit(unit_id(job), run_job, (job, config, SOLVERS[job.method]), timeout=timeout)


def _local_outcome(done: Done) -> JobOutcome:
    """The outcome of a job's unit that ran locally."""
    if done.ok:
        return done.value
    if done.error and done.error.startswith("TimeoutError:"):
        text = f"the job's worker did not return within {done.seconds:.0f} s; killed"
        return JobOutcome(None, None, "timeout", text, done.seconds)
    logger.warning("job %s failed: %s\n%s", done.id, done.error, done.traceback or "")
    return JobOutcome(None, None, "error", done.error or "", 0.0)


def _run_local(pending: deque[Job], config: RunnerConfig, recorder: Recorder) -> None:
    """Run the jobs in local worker processes, ``config.workers`` (default 1) at a time."""
    running: dict[str, tuple[Job, float]] = {}
    with ProcessExecutor(config.workers or 1, name="autorl-benchmark-worker") as executor:
        while pending or running:
            while pending and executor.idle:
                job = pending.popleft()
                executor.submit(job_unit(job, config))
                running[unit_id(job)] = (job, time.monotonic())
            for done in executor.wait(POLL):
                job, _ = running.pop(done.id)
                recorder.record(job, _local_outcome(done))
            recorder.status([(job.target.id, started) for job, started in running.values()])


def _status_line(
    config: RunnerConfig, done: int, total: int, solved: int, running: Sequence[RunningJob]
) -> str:
    now = time.monotonic()
    jobs = " ".join(
        f"{target}:{now - started:.0f}s" if started is not None else f"{target}:start"
        for target, started in running
    )
    return f"{config.method}: {done}/{total} jobs done, {solved} solved; running {jobs}"

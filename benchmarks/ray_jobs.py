"""``autorl benchmark --backend ray``: every (target, run) job is a Ray task.

A task (:func:`run_on_node`, ``num_cpus=1``: one core per job, as locally) runs its job
on its node exactly as the local runner's workers do (:func:`benchmarks.runner.run_job`): a
``spawn`` child reports every improvement to the task, and the task terminates it (its
whole process group) ``grace`` seconds past the time limit, so an overrunning job ends
as ``timeout`` with the best design it reported. The task returns a
:class:`~benchmarks.runner.JobOutcome`; the driver refolds and scores the design and
appends the row. results.csv is written by the driver only, so ``--resume`` works as
locally, across backends too. Nodes are assumed to have the driver's file layout (as Ray
assumes): a task gets the files of the run by absolute path (:func:`node_config`) and the
directory its solver is imported from (:func:`solver_path`).

The driver (:func:`run_on_ray`) runs the jobs' units on an
:class:`envs.ray_execution.RayExecutor`:

- keeps at most ``config.workers`` tasks in flight, or, when that is None, as many as the
  cluster has CPUs (:func:`meta.cluster.unit_slots`, taken when the run starts);
- gives every task a backstop deadline (:func:`backstop_seconds` after its submission):
  a task still out then (a wedged node, or a task queued behind other work on a shared
  cluster for longer than the startup timeout) is force-cancelled and recorded as
  ``timeout``, without a design, its ``error`` saying so;
- resubmits a job once when its worker died (the process was killed, the node was lost,
  out of memory: any Ray system error): the row records the retry in ``error``
  ("retried once after: ...") next to the real outcome; a second death is recorded as
  ``error``. The designs of a dead attempt are lost: the retry starts over (same seed);
- on an interrupt (Ctrl-C, SIGTERM) cancels every task in flight (the tasks stop their
  children first) and re-raises; only whole rows of finished jobs are in results.csv.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.runner import (
    DEADLINE_MARGIN,
    KILL_AFTER,
    POLL,
    SOLVERS,
    Job,
    JobOutcome,
    Recorder,
    RunnerConfig,
    backstop_seconds,
    run_job,
    unit_id,
)
from envs.execution import Done, Unit
from envs.folding import ENERGY_PARAMETER_SETS
from envs.ray_execution import LOST_PREFIX, RayExecutor
from meta.cluster import unit_slots

logger = logging.getLogger(__name__)

__all__ = [
    "DEADLINE_MARGIN",
    "backstop_seconds",
    "node_config",
    "run_on_node",
    "run_on_ray",
    "solver_path",
]


def solver_path(solver: str) -> str | None:
    """The ``sys.path`` entry the driver imports a solver's module from (None: not found).

    A Ray worker does not share the driver's ``sys.path``; the task appends this entry to
    its own (after every entry it has), so a solver the driver can import (a test helper,
    a script's neighbour) can be imported on a node with the same file layout.
    """
    module = solver.partition(":")[0]
    top = module.split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:  # a package: the directory holding it is the entry
        return str(Path(next(iter(spec.submodule_search_locations))).parent)
    if not spec.origin or spec.origin in ("built-in", "frozen"):
        return None
    return str(Path(spec.origin).parent)


def node_config(config: RunnerConfig) -> RunnerConfig:
    """The settings a task gets: its files' paths made absolute.

    A Ray worker does not run in the driver's directory, so a relative ``--model`` or
    ``--energy-params FILE`` would not be found there (the rows keep the paths as given).
    """
    energy = config.energy
    if energy.params not in ENERGY_PARAMETER_SETS:
        energy = replace(energy, params=str(Path(energy.params).expanduser().resolve()))
    model = str(Path(config.model).expanduser().resolve()) if config.model else ""
    return replace(config, energy=energy, model=model)


def run_on_node(job: Job, config: RunnerConfig, solver: str, search_path: str | None) -> JobOutcome:
    """The body of a job's Ray task: run the job on this node; return its outcome.

    Args:
        job: The job.
        config: The run settings.
        solver: The ``"module:factory"`` of the job's method, as the driver resolved it.
        search_path: A ``sys.path`` entry for the solver's module (:func:`solver_path`).

    Returns:
        The job's :class:`~benchmarks.runner.JobOutcome`, ``backend`` naming this node.
    """
    if search_path and search_path not in sys.path:
        sys.path.append(search_path)  # the job's spawn child inherits it
    outcome = run_job(job, config, solver)
    return replace(outcome, backend=f"ray:{_node_address()}")


def _node_address() -> str:
    try:
        import ray

        return ray.util.get_node_ip_address()
    except Exception:  # noqa: BLE001 - only a label
        import socket

        return socket.gethostname()


def _failed_again(failure: str, first_failure: str) -> str:
    """The ``error`` of a job whose retry failed too."""
    if failure == first_failure:
        return f"{failure} (retried once: the retry failed the same way)"
    return f"{failure} (retried once after: {first_failure})"


def _retried(outcome: JobOutcome, first_failure: str) -> JobOutcome:
    """The outcome of a retry, its ``error`` saying what the retry was for."""
    note = f"retried once after: {first_failure}"
    return replace(outcome, error=f"{outcome.error} ({note})" if outcome.error else note)


def _unit(job: Job, config: RunnerConfig, sent: RunnerConfig) -> Unit:
    """A job's Ray task: one CPU, the backstop deadline as its timeout."""
    solver = SOLVERS[job.method]
    args = (job, sent, solver, solver_path(solver))
    return Unit(unit_id(job), run_on_node, args, cpus=1, timeout=backstop_seconds(config))


def _outcome(job: Job, done: Done, config: RunnerConfig) -> JobOutcome:
    """The outcome of a job's task: its own, or what the driver knows of its failure."""
    first = f"worker died: {done.retry_error}" if done.retry_error else ""
    if done.ok:
        return _retried(done.value, first) if first else done.value
    error = done.error or ""
    status, seconds = "error", 0.0
    if error.startswith("TimeoutError:"):
        seconds, status = done.seconds, "timeout"
        text = (
            f"the Ray task did not return within {backstop_seconds(config):g} s of its "
            "submission; cancelled"
        )
    elif error.startswith(LOST_PREFIX):
        text = f"worker died: {error.split(': ', 1)[1]}"
    else:
        text = f"the Ray task failed: {error}"
    if first:
        text = _failed_again(text, first)
    logger.warning("job %s: %s", job.key, text)
    return JobOutcome(None, None, status, text, seconds, "ray")


def run_on_ray(ray: Any, jobs: deque[Job], config: RunnerConfig, recorder: Recorder) -> None:
    """Run the jobs as Ray tasks, recording each one as it ends.

    Args:
        ray: The connected ``ray`` module (:func:`meta.cluster.backend_session`).
        jobs: The jobs to run, in order (consumed).
        config: The run settings; ``workers`` caps the tasks in flight (None: one per CPU
            of the cluster).
        recorder: Writes the rows (the driver is the only writer of results.csv).
    """
    slots = unit_slots(ray, 1.0, 0.0)
    limit = config.workers or slots
    if limit > slots:
        logger.warning(
            "--workers %d is more than the %d CPUs of the Ray cluster: the extra jobs wait in "
            "Ray's queue, and a job's backstop deadline counts from its submission",
            limit,
            slots,
        )
    logger.info("running %d jobs on Ray, at most %d at a time", len(jobs), limit)
    sent = node_config(config)
    running: dict[str, tuple[Job, float]] = {}
    executor = RayExecutor(limit, cancel_grace=2 * KILL_AFTER, name="autorl-benchmark")
    with executor:  # an interrupt cancels the tasks: politely (they stop their jobs), then by force
        while jobs or running:
            while jobs and executor.idle:
                job = jobs.popleft()
                executor.submit(_unit(job, config, sent))
                running[unit_id(job)] = (job, time.monotonic())
            for done in executor.wait(POLL):
                job, _ = running.pop(done.id)
                recorder.record(job, _outcome(job, done, config))
            recorder.status([(job.target.id, started) for job, started in running.values()])

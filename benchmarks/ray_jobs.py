"""``autorl benchmark --backend ray``: every (target, run) job is a Ray task.

A task (:func:`run_on_node`, ``num_cpus=1``: one core per job, as locally) runs its job
on its node exactly as the local runner does (:func:`benchmarks.runner.run_job`): a
``spawn`` child reports every improvement to the task, and the task terminates it (its
whole process group) ``grace`` seconds past the time limit, so an overrunning job ends
as ``timeout`` with the best design it reported. The task returns a
:class:`~benchmarks.runner.JobOutcome`; the driver refolds and scores the design and
appends the row. results.csv is written by the driver only, so ``--resume`` works as
locally, across backends too. Nodes are assumed to have the driver's file layout (as Ray
assumes): a task gets the files of the run by absolute path (:func:`node_config`) and the
directory its solver is imported from (:func:`solver_path`).

The driver (:func:`run_on_ray`):

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

import contextlib
import importlib.util
import logging
import sys
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.runner import (
    KILL_AFTER,
    SOLVERS,
    Job,
    JobOutcome,
    Recorder,
    RunnerConfig,
    run_job,
)
from envs.folding import ENERGY_PARAMETER_SETS
from meta.cluster import unit_slots

logger = logging.getLogger(__name__)

#: Seconds of slack in every task's backstop deadline, on top of the job's own budget
#: (scheduling, starting a Ray worker, returning the result).
DEADLINE_MARGIN = 30.0
#: How often the driver looks at the tasks in flight (seconds, at most).
POLL = 0.5
#: Characters of a Ray error kept in the ``error`` column.
_ERROR_CHARS = 300


def backstop_seconds(config: RunnerConfig) -> float:
    """Seconds after its submission at which the driver gives up on a task.

    The startup timeout, the time limit, the grace, both steps of stopping the job's
    process and :data:`DEADLINE_MARGIN`: a task that is not back by then will not be.
    """
    return (
        config.startup_timeout + config.time_limit + config.grace + 2 * KILL_AFTER + DEADLINE_MARGIN
    )


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


@dataclass
class _Task:
    """A job's task in flight."""

    job: Job
    ref: Any
    submitted: float
    first_failure: str = ""  # why the first attempt failed, if this is the retry

    def deadline(self, config: RunnerConfig) -> float:
        return self.submitted + backstop_seconds(config)


def _failure(ray: Any, error: Exception) -> tuple[str, bool]:
    """Describe a task that raised instead of returning; whether it deserves a retry.

    A system error (the worker process died or was killed, the node or the object was
    lost, a cancellation the driver did not ask for) is retried; an exception raised by
    the task's own code is not (it would fail again).
    """
    exceptions = ray.exceptions
    if isinstance(error, exceptions.RayTaskError) and not isinstance(
        error.cause, exceptions.RayError
    ):
        cause = error.cause if error.cause is not None else error
        return f"the Ray task failed: {type(cause).__name__}: {_first_line(cause)}", False
    return f"worker died: {type(error).__name__}: {_first_line(error)}", True


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 3] + "..."


def _failed_again(failure: str, first_failure: str) -> str:
    """The ``error`` of a job whose retry failed too."""
    if failure == first_failure:
        return f"{failure} (retried once: the retry failed the same way)"
    return f"{failure} (retried once after: {first_failure})"


def _retried(outcome: JobOutcome, first_failure: str) -> JobOutcome:
    """The outcome of a retry, its ``error`` saying what the retry was for."""
    note = f"retried once after: {first_failure}"
    return replace(outcome, error=f"{outcome.error} ({note})" if outcome.error else note)


class _Driver:
    """Submits the jobs as Ray tasks, watches them, and hands their outcomes on."""

    def __init__(self, ray: Any, config: RunnerConfig, recorder: Recorder) -> None:
        self.ray = ray
        self.config = config
        self.recorder = recorder
        self.remote = ray.remote(num_cpus=1, max_retries=0, retry_exceptions=False)(run_on_node)
        self.node_config = node_config(config)
        self.tasks: dict[Any, _Task] = {}

    def submit(self, job: Job, first_failure: str = "") -> None:
        solver = SOLVERS[job.method]
        ref = self.remote.options(name=f"autorl-benchmark-{job.target.id}-{job.run}").remote(
            job, self.node_config, solver, solver_path(solver)
        )
        self.tasks[ref] = _Task(job, ref, time.monotonic(), first_failure)

    def wait(self) -> list[Any]:
        """Wait (at most :data:`POLL` s, or until the next deadline) for tasks that are done."""
        refs = list(self.tasks)
        soonest = min(task.deadline(self.config) for task in self.tasks.values())
        timeout = min(POLL, max(0.01, soonest - time.monotonic()))
        ready, _ = self.ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
        return ready

    def collect(self, ref: Any) -> None:
        """Record a finished task's job, or resubmit it once after its worker died."""
        task = self.tasks.pop(ref)
        try:
            outcome = self.ray.get(ref)
        except self.ray.exceptions.RayError as error:
            text, retry = _failure(self.ray, error)
            if retry and not task.first_failure:
                logger.warning("job %s: %s; retrying it once", task.job.key, text)
                self.submit(task.job, first_failure=text)
                return
            if task.first_failure:
                text = _failed_again(text, task.first_failure)
            logger.warning("job %s: %s", task.job.key, text)
            outcome = JobOutcome(None, None, "error", text, 0.0, "ray")
        else:
            if task.first_failure:
                outcome = _retried(outcome, task.first_failure)
        self.recorder.record(task.job, outcome)

    def expire(self) -> None:
        """Force-cancel the tasks past their backstop deadline; record them as timed out."""
        now = time.monotonic()
        for ref, task in list(self.tasks.items()):
            if now < task.deadline(self.config):
                continue
            del self.tasks[ref]
            with contextlib.suppress(Exception):
                self.ray.cancel(ref, force=True)
            seconds = backstop_seconds(self.config)
            text = f"the Ray task did not return within {seconds:g} s of its submission; cancelled"
            if task.first_failure:
                text = _failed_again(text, task.first_failure)
            logger.warning("job %s: %s", task.job.key, text)
            self.recorder.record(
                task.job, JobOutcome(None, None, "timeout", text, now - task.submitted, "ray")
            )

    def cancel_all(self) -> None:
        """Cancel every task in flight: politely (the task stops its child), then by force."""
        refs = list(self.tasks)
        self.tasks.clear()
        if not refs:
            return
        for ref in refs:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref)
        with contextlib.suppress(Exception):
            _, refs = self.ray.wait(refs, num_returns=len(refs), timeout=2 * KILL_AFTER)
        for ref in refs:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref, force=True)

    def running(self) -> list[tuple[str, float | None]]:
        """The jobs in flight with their submission times (for the status line)."""
        return [(task.job.target.id, task.submitted) for task in self.tasks.values()]


def run_on_ray(ray: Any, jobs: deque[Job], config: RunnerConfig, recorder: Recorder) -> None:
    """Run the jobs as Ray tasks, recording each one as it ends.

    Args:
        ray: The connected ``ray`` module (:func:`meta.cluster.backend_session`).
        jobs: The jobs to run, in order (consumed).
        config: The run settings; ``workers`` caps the tasks in flight (None: one per CPU
            of the cluster).
        recorder: Writes the rows (the driver is the only writer of results.csv).
    """
    driver = _Driver(ray, config, recorder)
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
    try:
        while jobs or driver.tasks:
            while jobs and len(driver.tasks) < limit:
                driver.submit(jobs.popleft())
            for ref in driver.wait():
                driver.collect(ref)
            driver.expire()
            recorder.status(driver.running())
    finally:
        driver.cancel_all()

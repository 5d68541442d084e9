"""Running trials: BOHB's jobs on any executor of :mod:`envs.execution`.

The objective has one shape, ``objective(config, budget, seed)``, returning the loss (lower
is better) or a :class:`TrialResult` with extra information. Whatever happens inside it,
an exception, a non-finite loss, a timeout or a crashed worker process, the trial comes
back as an :class:`Outcome` with status ``failed`` and the error text; nothing stops the run.

:class:`TrialExecutor` turns a :class:`Job` into a unit that runs :func:`evaluate` and the
unit's :class:`~envs.execution.Done` back into an :class:`Outcome`, on any executor of the
protocol. :class:`SerialExecutor` (in-process), :class:`ProcessExecutor` (persistent
``spawn`` worker processes with hard timeouts: the objective must be picklable, a
module-level function or an instance of a module-level class) and
:class:`autorl.bohb.ray_executor.RayExecutor` are that adapter over the executors of the
same names in :mod:`envs.execution` and :mod:`envs.ray_execution`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from envs import execution
from envs.execution import Done, Executor, Unit, die_with_parent

Objective = Callable[[dict[str, Any], float, int], Any]

OK = "ok"
FAILED = "failed"


@dataclass(frozen=True)
class TrialResult:
    """What an objective may return instead of a bare loss.

    Attributes:
        loss: The loss (lower is better); non-finite marks the trial failed.
        info: Extra JSON-ready information, kept in the run log.
    """

    loss: float
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """A trial handed to an executor."""

    trial_id: str
    config: dict[str, Any]
    budget: float
    seed: int
    timeout: float | None = None


@dataclass(frozen=True)
class Outcome:
    """A finished trial.

    Attributes:
        trial_id: The job's trial id.
        loss: The loss; +inf when the trial failed.
        status: ``ok`` or ``failed``.
        error: The error text of a failed trial.
        seconds: Wall-clock seconds of the evaluation.
        worker: The worker that ran it (0 in-process).
        info: Extra information returned by the objective.
        traceback: The traceback of an exception, if any.
    """

    trial_id: str
    loss: float
    status: str
    error: str | None
    seconds: float
    worker: int
    info: dict[str, Any] = field(default_factory=dict)
    traceback: str | None = None


def _coerce(value: Any) -> tuple[float, dict[str, Any]]:
    if isinstance(value, bool):
        raise TypeError("objective returned a bool; return a float loss")
    if hasattr(value, "loss"):
        return float(value.loss), dict(getattr(value, "info", None) or {})
    if isinstance(value, Mapping) and "loss" in value:
        return float(value["loss"]), dict(value.get("info") or {})
    try:
        return float(value), {}
    except (TypeError, ValueError):
        raise TypeError(
            f"objective returned {type(value).__name__}; expected a float loss or an object "
            "with a .loss attribute (autorl.bohb.TrialResult)"
        ) from None


def _json_ready(info: dict[str, Any]) -> dict[str, Any]:
    return (
        json.loads(json.dumps(info, default=str, allow_nan=False, sort_keys=True)) if info else {}
    )


def evaluate(objective: Objective, job: Job, worker: int = 0) -> Outcome:
    """Run one job in this process and turn anything it does into an :class:`Outcome`."""
    start = time.perf_counter()
    try:
        loss, info = _coerce(objective(dict(job.config), job.budget, job.seed))
        try:
            info = _json_ready(info)
        except (TypeError, ValueError):
            info = {"unserializable_info": repr(info)[:1000]}
    except Exception as error:  # noqa: BLE001 - a failing trial must not stop the run
        seconds = time.perf_counter() - start
        text = f"{type(error).__name__}: {error}"
        tb = "".join(traceback.format_exception(error))[-4000:]
        return Outcome(job.trial_id, math.inf, FAILED, text, seconds, worker, {}, tb)
    seconds = time.perf_counter() - start
    if not math.isfinite(loss):
        return Outcome(
            job.trial_id, math.inf, FAILED, f"non-finite loss {loss}", seconds, worker, info
        )
    return Outcome(job.trial_id, loss, OK, None, seconds, worker, info)


@dataclass(frozen=True)
class _Evaluate:
    """The function of a trial's unit: :func:`evaluate` with the objective bound.

    One object shared by every trial of an executor, so Ray ships the objective once.
    """

    objective: Objective

    def __call__(self, job: Job) -> Outcome:
        return evaluate(self.objective, job)


class TrialExecutor:
    """BOHB's trials on an executor of :mod:`envs.execution`: jobs in, outcomes out.

    A trial is a unit with the trial id as its id, the job's timeout, and ``cpus``/``gpus``
    (what Ray reserves for it). A unit that did not return (a timeout, a dead or lost
    worker, a cancellation) is a failed outcome with the executor's error; a retried one
    records ``attempts`` and ``retry_error`` in its ``info``.

    Args:
        objective: The objective (picklable for executors with processes).
        executor: Runs the units.
        cpus: CPUs each trial declares.
        gpus: GPUs each trial declares.
        owns: Whether :meth:`shutdown` shuts the executor down (else it cancels only the
            trials of this adapter still running).
    """

    def __init__(
        self,
        objective: Objective,
        executor: Executor,
        *,
        cpus: float = 1.0,
        gpus: float = 0.0,
        owns: bool = True,
    ):
        self.objective = objective
        self.executor = executor
        self.cpus, self.gpus, self.owns = cpus, gpus, owns
        self._call = _Evaluate(objective)
        self._jobs: dict[str, Job] = {}

    @property
    def workers(self) -> int:
        """Trials that run at once."""
        return self.executor.slots

    @property
    def idle(self) -> int:
        """Free slots."""
        return self.executor.idle

    def submit(self, job: Job) -> None:
        """Start ``job`` on a free slot.

        Raises:
            RuntimeError: no slot is free (call :meth:`wait` first).
        """
        if self.idle < 1:
            raise RuntimeError("no idle worker; call wait() first")
        timeout = job.timeout if job.timeout and job.timeout > 0 else None
        unit = Unit(
            job.trial_id, self._call, (job,), cpus=self.cpus, gpus=self.gpus, timeout=timeout
        )
        self.executor.submit(unit)
        self._jobs[job.trial_id] = job

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        """Block until at least one trial is over (``[]`` after ``timeout`` s or with none)."""
        return [self._outcome(d) for d in self.executor.wait(timeout) if d.id in self._jobs]

    def cancel(self, trial_id: str) -> Outcome | None:
        """Stop a running trial; its failed outcome (error ``cancelled``), or None."""
        if trial_id not in self._jobs:
            return None
        done = self.executor.cancel(trial_id)
        return self._outcome(done) if done is not None else None

    def _outcome(self, done: Done) -> Outcome:
        job = self._jobs.pop(done.id)
        extra: dict[str, Any] = {}
        if done.attempts > 1:
            extra["attempts"] = done.attempts
        if done.retry_error:
            extra["retry_error"] = done.retry_error
        if done.ok:
            outcome: Outcome = done.value
            info = {**outcome.info, **extra} if extra else outcome.info
            return dataclasses.replace(outcome, worker=done.worker, info=info)
        error = done.error or "failed"
        if error.startswith("TimeoutError:") and job.timeout:  # evaluate() never raises
            error = f"TimeoutError: trial exceeded its timeout of {job.timeout:g} s"
        return Outcome(
            job.trial_id, math.inf, FAILED, error, done.seconds, done.worker, extra, done.traceback
        )

    def shutdown(self) -> None:
        """Shut the executor down (or, when not owned, cancel this adapter's trials)."""
        if self.owns:
            self.executor.shutdown()
        else:
            for trial_id in list(self._jobs):
                self.executor.cancel(trial_id)
        self._jobs.clear()

    def __enter__(self) -> TrialExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


class SerialExecutor(TrialExecutor):
    """Runs each trial in the calling process when :meth:`wait` is called.

    Timeouts are not enforced (a Python call cannot be interrupted safely); use
    :class:`ProcessExecutor` for objectives that may hang.
    """

    def __init__(self, objective: Objective):
        super().__init__(objective, execution.SerialExecutor())


class ProcessExecutor(TrialExecutor):
    """``workers`` persistent worker processes; a trial over its timeout is killed.

    Args:
        objective: A picklable objective.
        workers: Number of worker processes (>= 1).
    """

    def __init__(self, objective: Objective, workers: int = 1):
        super().__init__(objective, execution.ProcessExecutor(workers, name="autorl-trial-worker"))


__all__ = [
    "FAILED",
    "OK",
    "Job",
    "Objective",
    "Outcome",
    "ProcessExecutor",
    "SerialExecutor",
    "TrialExecutor",
    "TrialResult",
    "die_with_parent",
    "evaluate",
]

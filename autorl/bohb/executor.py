"""Running trials: in-process, or in parallel worker processes with hard timeouts.

The objective has one shape, ``objective(config, budget, seed)``, returning the loss (lower
is better) or a :class:`TrialResult` with extra information. Whatever happens inside it,
an exception, a non-finite loss, a timeout or a crashed worker process, the trial comes
back as an :class:`Outcome` with status ``failed`` and the error text; nothing stops the run.

Worker processes are started with the ``spawn`` method (so the objective must be picklable:
a module-level function or an instance of a module-level class), run in their own process
group (a timeout kills the trial and everything it started), and die with the parent
(Linux ``PR_SET_PDEATHSIG``), so even a SIGKILL of the optimizer leaves no stray trial.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import multiprocessing as mp
import os
import signal
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

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


class SerialExecutor:
    """Runs each job in the calling process when :meth:`wait` is called.

    Timeouts are not enforced (a Python call cannot be interrupted safely); use
    :class:`ProcessExecutor` for objectives that may hang.
    """

    def __init__(self, objective: Objective):
        self.objective = objective
        self.workers = 1
        self._pending: list[Job] = []

    @property
    def idle(self) -> int:
        """Free slots."""
        return 1 - len(self._pending)

    def submit(self, job: Job) -> int:
        """Queue a job (one at a time); returns the worker id 0."""
        if self._pending:
            raise RuntimeError("SerialExecutor runs one job at a time")
        self._pending.append(job)
        return 0

    def wait(self) -> list[Outcome]:
        """Run the queued job and return its outcome."""
        if not self._pending:
            return []
        return [evaluate(self.objective, self._pending.pop())]

    def shutdown(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def die_with_parent(parent: int) -> None:
    """Have Linux kill this process when ``parent`` exits (a no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _worker_main(conn: Connection, objective: Objective, worker: int, parent: int) -> None:
    """Loop of one worker process: receive a job, evaluate it, send the outcome."""
    die_with_parent(parent)
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # own process group: a timeout kills the trial's children too
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the optimizer's to handle
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        conn.send(evaluate(objective, job, worker))


@dataclass
class _Slot:
    worker: int
    process: Any = None
    conn: Connection | None = None
    job: Job | None = None
    started: float = 0.0


class ProcessExecutor:
    """``workers`` persistent worker processes; a job that exceeds its timeout is killed.

    Args:
        objective: A picklable objective.
        workers: Number of worker processes (>= 1).
    """

    def __init__(self, objective: Objective, workers: int = 1):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.objective = objective
        self.workers = workers
        self._ctx = mp.get_context("spawn")
        self._slots = [_Slot(worker=i + 1) for i in range(workers)]

    @property
    def idle(self) -> int:
        """Workers without a job."""
        return sum(slot.job is None for slot in self._slots)

    def submit(self, job: Job) -> int:
        """Start ``job`` on an idle worker (started on demand); returns the worker id."""
        slot = next((s for s in self._slots if s.job is None), None)
        if slot is None:
            raise RuntimeError("no idle worker; call wait() first")
        if slot.process is None or not slot.process.is_alive():
            self._start(slot)
        assert slot.conn is not None
        slot.conn.send(job)
        slot.job, slot.started = job, time.monotonic()
        return slot.worker

    def _start(self, slot: _Slot) -> None:
        parent_conn, child_conn = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_worker_main,
            args=(child_conn, self.objective, slot.worker, os.getpid()),
            name=f"autorl-trial-worker-{slot.worker}",
            daemon=False,  # a trial may start processes of its own
        )
        process.start()
        child_conn.close()
        slot.process, slot.conn = process, parent_conn

    def wait(self) -> list[Outcome]:
        """Block until at least one running job finishes, fails or times out."""
        busy = [s for s in self._slots if s.job is not None]
        if not busy:
            return []
        while True:
            deadlines = [s.started + s.job.timeout for s in busy if s.job and s.job.timeout]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            ready = set(wait([s.conn for s in busy] + [s.process.sentinel for s in busy], timeout))
            outcomes = [o for s in busy if (o := self._collect(s, ready)) is not None]
            if outcomes:
                return outcomes

    def _collect(self, slot: _Slot, ready: set[Any]) -> Outcome | None:
        job = slot.job
        assert job is not None and slot.conn is not None
        elapsed = time.monotonic() - slot.started
        if slot.conn in ready:
            try:
                outcome: Outcome = slot.conn.recv()
            except (EOFError, OSError):
                outcome = None  # type: ignore[assignment]
            if outcome is not None:
                slot.job = None
                return outcome
        if slot.process.sentinel in ready or not slot.process.is_alive():
            slot.process.join(1)
            error = f"worker process died (exit code {slot.process.exitcode})"
        elif job.timeout and elapsed >= job.timeout:
            self._kill(slot)
            error = f"TimeoutError: trial exceeded its timeout of {job.timeout:g} s"
        else:
            return None
        slot.job, slot.process, slot.conn = None, None, None
        return Outcome(job.trial_id, math.inf, FAILED, error, elapsed, slot.worker)

    @staticmethod
    def _kill(slot: _Slot) -> None:
        if slot.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(slot.process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            slot.process.kill()
        slot.process.join(5)

    def shutdown(self) -> None:
        """Stop all workers; running jobs are killed."""
        for slot in self._slots:
            if slot.process is None:
                continue
            if slot.job is None and slot.process.is_alive():
                with contextlib.suppress(OSError, BrokenPipeError):
                    assert slot.conn is not None
                    slot.conn.send(None)
                slot.process.join(2)
            if slot.process.is_alive():
                self._kill(slot)
            slot.process, slot.conn, slot.job = None, None, None

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

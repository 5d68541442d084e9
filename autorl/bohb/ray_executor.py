"""Trials as Ray tasks, behind the same interface as :class:`~autorl.bohb.executor.ProcessExecutor`.

BOHB's master stays in the driver (:func:`autorl.bohb.run.run`): it asks, logs and tells
exactly as with local worker processes, so ``trials.jsonl`` is the same and ``--resume``
works across backends. Each trial is one Ray task that declares its resources (``cpus``,
``gpus``; Ray sets ``CUDA_VISIBLE_DEVICES`` for a task given GPUs, so an objective on device
``auto`` trains there) and runs :func:`autorl.bohb.executor.evaluate`, which turns anything
the objective does into an :class:`~autorl.bohb.executor.Outcome`.

Faults:

- The objective is shipped once (``ray.put``) and shared by every trial.
- A trial over its timeout is cancelled with ``force=True`` (its worker process is killed)
  and comes back failed, as locally. The clock starts when the trial is submitted; the
  driver submits no more trials than ``workers``, so give Ray at least that many slots.
- A worker process that dies mid-trial (killed, out of memory, its node lost) makes the
  trial run once more (``retries``); the driver resubmits it itself rather than through
  Ray's ``max_retries``, so the log can say so: the outcome has ``attempts`` 2 and the
  first failure in ``retry_error``. A second death fails the trial with the error
  recorded; the run goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from autorl.bohb.executor import FAILED, Job, Objective, Outcome, evaluate
from meta.cluster import import_ray

log = logging.getLogger(__name__)

#: Ray errors that mean the process (or node) running a trial is gone, not a failing trial.
_LOST = (
    "WorkerCrashedError",
    "NodeDiedError",
    "ObjectLostError",
    "OwnerDiedError",
    "RaySystemError",
    "LocalRayletDiedError",
)


def _run_trial(objective: Objective, job: Job, worker: int) -> Outcome:
    """Body of a trial's Ray task (``objective`` arrives dereferenced from the store)."""
    return evaluate(objective, job, worker)


@dataclass
class _Running:
    job: Job
    worker: int
    submitted: float
    attempt: int = 1
    retry_error: str | None = None


class RayExecutor:
    """Runs up to ``workers`` trials at once as Ray tasks; see the module docstring.

    Ray must be initialized (:func:`meta.cluster.ray_session`).

    Args:
        objective: A picklable objective.
        workers: Trials in flight at once (>= 1).
        cpus: CPUs each trial declares.
        gpus: GPUs each trial declares (fractions share a GPU).
        retries: Times a trial whose worker process died is run again.
    """

    def __init__(
        self,
        objective: Objective,
        workers: int = 1,
        cpus: float = 1.0,
        gpus: float = 0.0,
        retries: int = 1,
    ):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._ray = import_ray()
        if not self._ray.is_initialized():
            raise RuntimeError("RayExecutor needs ray.init() first (meta.cluster.ray_session)")
        self.workers = workers
        self.retries = retries
        self._objective = self._ray.put(objective)
        self._task = self._ray.remote(_run_trial).options(
            num_cpus=cpus, num_gpus=gpus, max_retries=0, retry_exceptions=False
        )
        self._running: dict[Any, _Running] = {}

    @property
    def idle(self) -> int:
        """Free slots."""
        return self.workers - len(self._running)

    def submit(self, job: Job) -> int:
        """Start ``job`` as a Ray task; returns the slot (worker id, 1..workers)."""
        if self.idle < 1:
            raise RuntimeError("no idle worker; call wait() first")
        busy = {running.worker for running in self._running.values()}
        worker = next(i for i in range(1, self.workers + 1) if i not in busy)
        self._start(_Running(job, worker, time.monotonic()))
        return worker

    def _start(self, running: _Running) -> None:
        ref = self._task.remote(self._objective, running.job, running.worker)
        self._running[ref] = running

    def wait(self) -> list[Outcome]:
        """Block until at least one trial finishes, fails, times out or is retried out."""
        while self._running:
            refs = list(self._running)
            ready, _ = self._ray.wait(refs, num_returns=1, timeout=self._wait_seconds())
            outcomes = [o for ref in ready if (o := self._collect(ref)) is not None]
            outcomes += self._expire()
            if outcomes:
                return outcomes
        return []

    def _wait_seconds(self) -> float | None:
        deadlines = [r.submitted + r.job.timeout for r in self._running.values() if r.job.timeout]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _collect(self, ref: Any) -> Outcome | None:
        """The outcome of a finished task, or None when it was resubmitted."""
        running = self._running.pop(ref)
        try:
            outcome: Outcome = self._ray.get(ref)
        except Exception as error:  # noqa: BLE001 - every Ray failure becomes an outcome
            return self._lost(running, error)
        if running.attempt > 1:
            info = {**outcome.info, "attempts": running.attempt}
            info["retry_error"] = running.retry_error
            outcome = dataclasses.replace(outcome, info=info)
        return outcome

    def _lost(self, running: _Running, error: Exception) -> Outcome | None:
        kind = type(error).__name__
        text = f"{kind}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
        elapsed = time.monotonic() - running.submitted
        retryable = any(name in kind for name in _LOST)
        if retryable and running.attempt <= self.retries:
            log.warning("trial %s: worker lost (%s); running it again", running.job.trial_id, text)
            retry = _Running(
                running.job, running.worker, time.monotonic(), running.attempt + 1, text
            )
            self._start(retry)
            return None
        if retryable:
            text = f"worker process lost on {running.attempt} attempts; last: {text}"
        info: dict[str, Any] = {"attempts": running.attempt}
        if running.retry_error:
            info["retry_error"] = running.retry_error
        return Outcome(running.job.trial_id, math.inf, FAILED, text, elapsed, running.worker, info)

    def _expire(self) -> list[Outcome]:
        """Cancel (kill) trials past their timeout."""
        now, outcomes = time.monotonic(), []
        for ref, running in list(self._running.items()):
            timeout = running.job.timeout
            if not timeout or now - running.submitted < timeout:
                continue
            del self._running[ref]
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=True)
            error = f"TimeoutError: trial exceeded its timeout of {timeout:g} s"
            outcomes.append(
                Outcome(
                    running.job.trial_id,
                    math.inf,
                    FAILED,
                    error,
                    now - running.submitted,
                    running.worker,
                    {"attempts": running.attempt} if running.attempt > 1 else {},
                )
            )
        return outcomes

    def shutdown(self) -> None:
        """Cancel every running trial (its worker process is killed)."""
        for ref in list(self._running):
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=True)
        self._running.clear()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

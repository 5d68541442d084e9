"""Units as Ray tasks: :class:`RayExecutor`, the executor protocol of :mod:`envs.execution`.

The driver (this process, connected to Ray beforehand) keeps at most ``slots`` tasks in
flight; more units wait in the driver's queue, so a unit's timeout counts from its
submission to Ray. Each unit is one Ray task that declares the unit's own ``cpus`` and
``gpus`` (Ray sets ``CUDA_VISIBLE_DEVICES`` for a task given GPUs) and runs
:func:`envs.execution.run_unit`, which turns an exception of the unit into its
:class:`~envs.execution.Done`.

Faults:

- A unit's function is shipped once (``ray.put``) and shared by every unit that uses the
  same function object (a large objective is not pickled per unit).
- A unit over its timeout is cancelled with ``force=True`` (its worker process is killed):
  ``TimeoutError: unit exceeded its timeout of N s``.
- A unit whose worker process is lost (killed, out of memory, its node died, an object
  lost: any Ray system error) runs once more (``retries``). The driver resubmits it
  itself rather than through Ray's ``max_retries``, so the :class:`Done` can say so:
  ``attempts=2`` and the first failure in ``retry_error``. A unit lost again is a Done
  with the error ``worker process lost on 2 attempts: <last failure>``.
- :meth:`RayExecutor.cancel` and :meth:`RayExecutor.shutdown` cancel by force, or, with
  ``cancel_grace``, first politely (``KeyboardInterrupt`` in the task, so it can stop the
  processes it started) and by force after ``cancel_grace`` seconds.

Ray is imported when an executor is made, never at import of this module.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from envs.execution import (
    CANCELLED,
    Done,
    ExecutorBase,
    Unit,
    error_text,
    run_unit,
    timeout_error,
)

log = logging.getLogger(__name__)

#: How the error of a unit whose worker was lost on every attempt begins.
LOST_PREFIX = "worker process lost on "
#: Distinct functions whose shipped copy the driver keeps (the least recently used go).
_SHIPPED = 32


def _run_remote(fn: Any, unit_id: str, args: tuple, kwargs: dict, worker: int) -> Done:
    """Body of a unit's Ray task (``fn`` arrives dereferenced from the object store)."""
    return run_unit(Unit(unit_id, fn, args, kwargs), worker)


def connected_ray() -> Any:
    """The ``ray`` module, connected.

    Raises:
        RuntimeError: Ray is not installed, or ``ray.init()`` was not called.
    """
    try:
        import ray
    except ImportError:
        raise RuntimeError(
            "RayExecutor needs Ray, which is not installed (pip install -e '.[ray]')"
        ) from None
    if not ray.is_initialized():
        raise RuntimeError(
            "RayExecutor needs a connected Ray: call ray.init() first "
            "(autorl: meta.cluster.ray_session)"
        )
    return ray


def describe_failure(ray: Any, error: Exception) -> tuple[str, bool]:
    """One line about a task that raised instead of returning; whether its worker was lost.

    A Ray system error (the worker process died or was killed, the node or an object was
    lost, a cancellation the driver did not ask for) means a lost worker; an exception of
    the task's own code (one :func:`run_unit` did not catch) does not.
    """
    exceptions = ray.exceptions
    if isinstance(error, exceptions.RayTaskError) and not isinstance(
        error.cause, exceptions.RayError
    ):
        return error_text(error.cause if error.cause is not None else error), False
    return error_text(error), isinstance(error, exceptions.RayError)


@dataclass
class _Attempt:
    unit: Unit
    worker: int
    started: float
    number: int = 1
    retry_error: str | None = None


class RayExecutor(ExecutorBase):
    """Runs up to ``slots`` units at once as Ray tasks; see the module docstring.

    Args:
        slots: Tasks in flight at once (>= 1); give Ray at least that many units' worth of
            resources, or tasks queue inside Ray with their clocks running.
        retries: Times a unit whose worker was lost runs again (>= 0).
        cancel_grace: Seconds between a polite and a forced cancel (0: force at once).
        name: Prefix of the tasks' names (``<name>-<unit id>``).

    Raises:
        ValueError: bad arguments.
        RuntimeError: Ray is not installed or not connected.
    """

    def __init__(
        self,
        slots: int = 1,
        *,
        retries: int = 1,
        cancel_grace: float = 0.0,
        name: str = "autorl",
    ):
        super().__init__(slots)
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        if not cancel_grace >= 0:
            raise ValueError(f"cancel_grace must be >= 0 seconds, got {cancel_grace}")
        self.retries = retries
        self.cancel_grace = cancel_grace
        self.name = name
        self._ray = connected_ray()
        self._task = self._ray.remote(max_retries=0, retry_exceptions=False)(_run_remote)
        self._shipped: dict[int, tuple[Any, Any]] = {}
        self._running: dict[Any, _Attempt] = {}

    def _running_count(self) -> int:
        return len(self._running)

    def _dispatch(self) -> None:
        while self._queue and len(self._running) < self.slots:
            busy = {attempt.worker for attempt in self._running.values()}
            worker = next(i for i in range(1, self.slots + 1) if i not in busy)
            self._launch(_Attempt(self._queue.popleft(), worker, 0.0))

    def _launch(self, attempt: _Attempt) -> None:
        unit = attempt.unit
        task = self._task.options(
            num_cpus=unit.cpus, num_gpus=unit.gpus, name=f"{self.name}-{unit.id}"
        )
        ref = task.remote(self._ship(unit.fn), unit.id, unit.args, unit.kwargs, attempt.worker)
        attempt.started = time.monotonic()
        self._running[ref] = attempt

    def _ship(self, fn: Any) -> Any:
        """The object-store copy of ``fn`` (put once per function object)."""
        key = id(fn)
        entry = self._shipped.pop(key, None)
        if entry is None or entry[0] is not fn:
            entry = (fn, self._ray.put(fn))
        self._shipped[key] = entry  # most recently used last
        while len(self._shipped) > _SHIPPED:  # tasks in flight keep their copy alive
            del self._shipped[next(iter(self._shipped))]
        return entry[1]

    def wait(self, timeout: float | None = None) -> list[Done]:
        """Block until at least one unit is over, or ``timeout`` s have passed (then ``[]``).

        A unit is over when it returns or raises, at its timeout (force-cancelled), or when
        its worker was lost more often than ``retries`` allows.
        """
        end = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while self._running:
            refs = list(self._running)
            ready, _ = self._ray.wait(refs, num_returns=1, timeout=self._block(end))
            if ready:
                ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
            dones = [done for ref in ready if (done := self._collect(ref)) is not None]
            dones += self._expire()
            self._dispatch()
            if dones:
                return dones
            if end is not None and time.monotonic() >= end:
                return []
        return []

    def _block(self, end: float | None) -> float | None:
        ends = [a.started + a.unit.timeout for a in self._running.values() if a.unit.timeout]
        if end is not None:
            ends.append(end)
        return max(0.0, min(ends) - time.monotonic()) if ends else None

    def _collect(self, ref: Any) -> Done | None:
        """The Done of a finished task, or None when its unit was resubmitted."""
        attempt = self._running.pop(ref)
        try:
            done: Done = self._ray.get(ref)
        except Exception as error:  # noqa: BLE001 - every Ray failure becomes a Done
            return self._failed(attempt, error)
        return self._finish(replace(done, attempts=attempt.number, retry_error=attempt.retry_error))

    def _failed(self, attempt: _Attempt, error: Exception) -> Done | None:
        text, lost = describe_failure(self._ray, error)
        unit = attempt.unit
        if lost and attempt.number <= self.retries:
            log.warning("unit %s: worker lost (%s); running it again", unit.id, text)
            first = attempt.retry_error or text
            self._launch(_Attempt(unit, attempt.worker, 0.0, attempt.number + 1, first))
            return None
        if lost:
            plural = "s" if attempt.number != 1 else ""
            text = f"{LOST_PREFIX}{attempt.number} attempt{plural}: {text}"
        return self._over(attempt, text, time.monotonic())

    def _expire(self) -> list[Done]:
        """Force-cancel the units past their timeout."""
        now, dones = time.monotonic(), []
        for ref, attempt in list(self._running.items()):
            timeout = attempt.unit.timeout
            if timeout is None or now - attempt.started < timeout:
                continue
            del self._running[ref]
            self._force(ref)
            dones.append(self._over(attempt, timeout_error(timeout), now))
        return dones

    def _over(self, attempt: _Attempt, error: str, now: float) -> Done:
        return self._finish(
            Done(
                attempt.unit.id,
                None,
                error,
                None,
                now - attempt.started,
                attempt.worker,
                attempt.number,
                attempt.retry_error,
            )
        )

    def _force(self, ref: Any) -> None:
        with contextlib.suppress(Exception):
            self._ray.cancel(ref, force=True)

    def _stop(self, refs: list[Any]) -> None:
        """Cancel tasks: politely first when ``cancel_grace`` > 0, then by force."""
        if not refs:
            return
        if self.cancel_grace > 0:
            for ref in refs:
                with contextlib.suppress(Exception):
                    self._ray.cancel(ref)
            with contextlib.suppress(Exception):
                _, refs = self._ray.wait(refs, num_returns=len(refs), timeout=self.cancel_grace)
        for ref in refs:
            self._force(ref)

    def cancel(self, unit_id: str) -> Done | None:
        """Drop a queued unit, or cancel its task (see ``cancel_grace``); None if unknown."""
        queued = self._cancel_queued(unit_id)
        if queued is not None:
            return queued
        found = next(((r, a) for r, a in self._running.items() if a.unit.id == unit_id), None)
        if found is None:
            return None
        ref, attempt = found
        del self._running[ref]
        self._stop([ref])
        done = self._over(attempt, CANCELLED, time.monotonic())
        self._dispatch()
        return done

    def shutdown(self) -> None:
        """Cancel every task in flight (see ``cancel_grace``) and drop the queued units."""
        refs = list(self._running)
        self._running.clear()
        self._queue.clear()
        self._ids.clear()
        self._shipped.clear()
        self._stop(refs)

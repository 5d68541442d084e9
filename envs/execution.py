"""One executor protocol for every process layer: units of work, each with resources and a timeout.

A :class:`Unit` is a picklable call, ``fn(*args, **kwargs)``, with the resources it declares
and a timeout. An executor runs units and hands back one :class:`Done` per unit, whatever
happened: the return value, an exception (its one-line text and its traceback), a timeout,
a worker process that died, a cancellation. Nothing a unit does stops the caller.

The protocol (:class:`Executor`): :meth:`~Executor.submit` a unit (it waits, first in
first out, for a free slot; its timeout counts from its start), :meth:`~Executor.wait` for
finished units (at most ``timeout`` seconds), :meth:`~Executor.cancel` one,
:meth:`~Executor.shutdown`. ``slots`` is how many units run at once and ``idle`` how many
more could start now: a driver that keeps the slots busy submits while ``idle``, one that
has many short units submits them all and collects them (:func:`run_all`).

Implementations: :class:`SerialExecutor` (in the calling process), :class:`ProcessExecutor`
(persistent worker processes, hard timeouts) and :class:`envs.ray_execution.RayExecutor`
(Ray tasks). BOHB's trials (:mod:`autorl.bohb.executor`), the benchmark jobs
(:mod:`benchmarks.runner`) and the targets of an rna-learna trial run on them.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import multiprocessing as mp
import os
import pickle
import signal
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for
from multiprocessing.reduction import ForkingPickler
from multiprocessing.util import Finalize
from typing import Any, Protocol

#: The error of a unit stopped by :meth:`Executor.cancel`.
CANCELLED = "cancelled"
#: Characters kept of an error's text and of a traceback.
ERROR_CHARS = 500
TRACEBACK_CHARS = 4000


@dataclass(frozen=True)
class Unit:
    """A unit of work: ``fn(*args, **kwargs)``, picklable for the executors with processes.

    Attributes:
        id: Names the unit in its :class:`Done`; unique among the units in flight.
        fn: The function (a module-level function or an instance of a module-level class).
        args: Positional arguments.
        kwargs: Keyword arguments.
        cpus: CPUs the unit declares (a scheduler such as Ray reserves them; local
            executors run one unit per slot whatever it declares).
        gpus: GPUs the unit declares (fractions share a GPU).
        timeout: Seconds the unit may run, counted from its start (None: no limit).
    """

    id: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    cpus: float = 1
    gpus: float = 0
    timeout: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"a unit's id must be a non-empty string, got {self.id!r}")
        if not callable(self.fn):
            raise ValueError(f"unit {self.id!r}: fn must be callable, got {self.fn!r}")
        if not (math.isfinite(self.cpus) and self.cpus >= 0):
            raise ValueError(f"unit {self.id!r}: cpus must be >= 0, got {self.cpus}")
        if not (math.isfinite(self.gpus) and self.gpus >= 0):
            raise ValueError(f"unit {self.id!r}: gpus must be >= 0, got {self.gpus}")
        if self.timeout is not None and not (math.isfinite(self.timeout) and self.timeout > 0):
            raise ValueError(
                f"unit {self.id!r}: timeout must be a positive number of seconds or None, "
                f"got {self.timeout}"
            )


@dataclass(frozen=True)
class Done:
    """A unit that is over.

    Attributes:
        id: The unit's id.
        value: What ``fn`` returned (None when it failed).
        error: None, or one line: ``TypeName: message`` for an exception,
            ``TimeoutError: unit exceeded its timeout of N s``, ``worker process died
            (exit code N)``, ``cancelled``, or what the executor says went wrong.
        traceback: The traceback of an exception raised by ``fn``.
        seconds: Wall-clock seconds of the (last) attempt.
        worker: The slot that ran it (1..slots; 0 in the calling process).
        attempts: Times the unit was started (2 after a retry of a lost worker).
        retry_error: Why the first attempt failed, when there was a retry.
    """

    id: str
    value: Any = None
    error: str | None = None
    traceback: str | None = None
    seconds: float = 0.0
    worker: int | str = 0
    attempts: int = 1
    retry_error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the unit returned a value."""
        return self.error is None

    def result(self) -> Any:
        """The unit's value.

        Raises:
            UnitError: the unit did not return one (its traceback, if any, as the cause).
        """
        if self.ok:
            return self.value
        error = UnitError(f"unit {self.id}: {self.error}")
        if self.traceback:
            raise error from RemoteTraceback(self.traceback)
        raise error


class UnitError(RuntimeError):
    """A unit that did not return a value (raised by :meth:`Done.result`)."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, as the cause of a :class:`UnitError`."""

    def __str__(self) -> str:
        return f"\n{self.args[0] if self.args else ''}"


def error_text(error: BaseException) -> str:
    """``TypeName: message``: the first line of the message, at most :data:`ERROR_CHARS`."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."


def timeout_error(timeout: float) -> str:
    """The error of a unit stopped at its timeout."""
    return f"TimeoutError: unit exceeded its timeout of {timeout:g} s"


def run_unit(unit: Unit, worker: int | str = 0) -> Done:
    """Run ``unit`` in this process; an exception it raises becomes the :class:`Done`'s error."""
    start = time.perf_counter()
    try:
        value = unit.fn(*unit.args, **unit.kwargs)
    except Exception as error:  # noqa: BLE001 - a failing unit must not stop its executor
        tb = "".join(traceback.format_exception(error))[-TRACEBACK_CHARS:]
        return Done(unit.id, None, error_text(error), tb, time.perf_counter() - start, worker)
    return Done(unit.id, value, None, None, time.perf_counter() - start, worker)


class Executor(Protocol):
    """What every executor offers (see the module docstring)."""

    @property
    def slots(self) -> int:
        """Units that run at once."""

    @property
    def idle(self) -> int:
        """Units that could start now: free slots not claimed by queued units."""

    def submit(self, unit: Unit) -> None:
        """Start ``unit``, or queue it until a slot is free."""

    def wait(self, timeout: float | None = None) -> list[Done]:
        """Block until at least one unit is over (``[]`` after ``timeout`` s, or when none is)."""

    def cancel(self, unit_id: str) -> Done | None:
        """Stop a queued or running unit; its :class:`Done` (error ``cancelled``), or None."""

    def shutdown(self) -> None:
        """Stop every unit and release the workers."""

    def __enter__(self) -> Executor: ...  # noqa: D105

    def __exit__(self, *exc: object) -> None: ...  # noqa: D105


class ExecutorBase:
    """The bookkeeping every executor shares: the queue, the ids in flight, ``with``.

    Subclasses define :meth:`_running_count`, :meth:`_dispatch` (start queued units on free
    slots), ``wait``, ``cancel`` and ``shutdown``, and hand every :class:`Done` through
    :meth:`_finish`.
    """

    def __init__(self, slots: int):
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self._slots = slots
        self._queue: deque[Unit] = deque()
        self._ids: set[str] = set()

    @property
    def slots(self) -> int:
        """Units that run at once."""
        return self._slots

    @property
    def idle(self) -> int:
        """Units that could start now: free slots not claimed by queued units."""
        return max(0, self._slots - self._running_count() - len(self._queue))

    def submit(self, unit: Unit) -> None:
        """Start ``unit`` on a free slot, or queue it (first in, first out) until one is free.

        Raises:
            ValueError: not a :class:`Unit`, its id is already in flight, or it cannot be
                sent to a worker.
        """
        if not isinstance(unit, Unit):
            raise ValueError(f"submit() takes a Unit, got {type(unit).__name__}")
        if unit.id in self._ids:
            raise ValueError(f"unit {unit.id!r} is already submitted and not over")
        self._prepare(unit)
        self._queue.append(unit)
        self._ids.add(unit.id)
        self._dispatch()

    def _prepare(self, unit: Unit) -> None:
        """Check a unit before it is queued (a hook)."""

    def _running_count(self) -> int:
        raise NotImplementedError

    def _dispatch(self) -> None:
        raise NotImplementedError

    def _finish(self, done: Done) -> Done:
        self._ids.discard(done.id)
        return done

    def _cancel_queued(self, unit_id: str) -> Done | None:
        for index, unit in enumerate(self._queue):
            if unit.id == unit_id:
                del self._queue[index]
                return self._finish(Done(unit_id, error=CANCELLED))
        return None

    def shutdown(self) -> None:
        """Stop every unit and release the workers."""
        raise NotImplementedError

    def __enter__(self) -> ExecutorBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


#: CPU seconds of the units :class:`SerialExecutor` s ran in this process (see
#: :func:`serial_cpu_seconds`).
_serial_cpu = 0.0


def serial_cpu_seconds() -> float:
    """CPU seconds this process has spent running units of :class:`SerialExecutor` s.

    Counted with ``time.thread_time`` around each unit (a unit runs in the thread that
    waits for it), so the caller's other threads do not count. What a worker process's
    CPU is to a :class:`ProcessExecutor`, this is to the serial one: the throughput
    benchmark (:mod:`benchmarks.throughput`) takes it out of a one-worker design loop's own
    CPU to tell the folds from the learning.
    """
    return _serial_cpu


class SerialExecutor(ExecutorBase):
    """Runs units in the calling process, one per :meth:`wait` call.

    Timeouts are not enforced and :meth:`wait` may take longer than its ``timeout``: a
    Python call cannot be interrupted safely. Use :class:`ProcessExecutor` for units that
    may hang.
    """

    def __init__(self) -> None:
        super().__init__(1)

    def _running_count(self) -> int:
        return 0

    def _dispatch(self) -> None:
        """Units start in :meth:`wait`."""

    def wait(self, timeout: float | None = None) -> list[Done]:
        """Run the first queued unit to its end and return its :class:`Done` ([] if none)."""
        global _serial_cpu
        if not self._queue:
            return []
        start = time.thread_time()
        try:
            return [self._finish(run_unit(self._queue.popleft()))]
        finally:
            _serial_cpu += time.thread_time() - start

    def cancel(self, unit_id: str) -> Done | None:
        """Drop a queued unit (a unit runs only inside :meth:`wait`)."""
        return self._cancel_queued(unit_id)

    def shutdown(self) -> None:
        """Forget the queued units."""
        self._queue.clear()
        self._ids.clear()


def die_with_parent(parent: int) -> None:
    """Have Linux kill this process when ``parent`` exits (a no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _load_and_run(unit_id: str, payload: bytes, worker: int) -> Done:
    try:
        unit = pickle.loads(payload)
    except Exception as error:  # noqa: BLE001 - e.g. fn's module cannot be imported here
        tb = "".join(traceback.format_exception(error))[-TRACEBACK_CHARS:]
        return Done(unit_id, None, error_text(error), tb, 0.0, worker)
    return run_unit(unit, worker)


def _worker_main(conn: Connection, worker: int, parent: int) -> None:
    """Loop of one worker process: receive a unit, run it, send its :class:`Done`."""
    die_with_parent(parent)
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # own process group: a timeout kills the unit's children too
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        done = _load_and_run(*message, worker)
        try:
            conn.send(done)
        except OSError:
            return
        except Exception as error:  # noqa: BLE001 - the value cannot be pickled
            text = f"{error_text(error)} (the unit's value cannot be sent back)"
            conn.send(Done(done.id, None, text[:ERROR_CHARS], None, done.seconds, worker))


@dataclass
class _Worker:
    number: int
    process: Any = None
    conn: Connection | None = None
    unit: Unit | None = None
    started: float = 0.0


def _kill(worker: _Worker) -> None:
    """Kill a worker process and its process group (the unit's children)."""
    if worker.process is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            worker.process.kill()
        worker.process.join(5)
    if worker.conn is not None:
        worker.conn.close()
    worker.process, worker.conn, worker.unit = None, None, None


def _stop_workers(workers: list[_Worker]) -> None:
    """Stop idle workers politely, busy ones (and their process groups) at once."""
    for worker in workers:
        if worker.process is None:
            continue
        if worker.unit is None and worker.process.is_alive():
            with contextlib.suppress(OSError):
                assert worker.conn is not None
                worker.conn.send(None)
            worker.process.join(2)
        _kill(worker)


class ProcessExecutor(ExecutorBase):
    """``workers`` persistent worker processes, one unit each at a time.

    Workers are started with ``spawn`` when first needed and then kept, so a unit pays no
    interpreter start or imports after the first. Each runs in its own process group (a
    unit over its timeout, or cancelled, is killed together with every process it
    started), ignores Ctrl-C (the parent's to handle) and dies with the parent (Linux
    ``PR_SET_PDEATHSIG``), so even a SIGKILL of the parent leaves no stray process. A
    worker that dies, or is killed, is replaced for the next unit. Workers are not
    daemonic (a unit may start processes of its own); they are stopped by
    :meth:`shutdown`, or when the parent exits.

    Args:
        workers: Worker processes (slots), >= 1.
        name: Prefix of the workers' process names.
    """

    def __init__(self, workers: int = 1, *, name: str = "autorl-worker"):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        super().__init__(workers)
        self.name = name
        self._ctx = mp.get_context("spawn")
        self._workers = [_Worker(number) for number in range(1, workers + 1)]
        self._payloads: dict[str, bytes] = {}
        #: The thread that starts the worker processes (see :meth:`_spawn`).
        self._spawner: ThreadPoolExecutor | None = None
        # Stops the workers at exit before multiprocessing joins its non-daemonic children.
        Finalize(self, _stop_workers, args=(self._workers,), exitpriority=10)

    def _prepare(self, unit: Unit) -> None:
        try:
            self._payloads[unit.id] = bytes(ForkingPickler.dumps(unit))
        except Exception as error:  # noqa: BLE001 - PicklingError, TypeError, AttributeError...
            raise ValueError(
                f"unit {unit.id!r} cannot be sent to a worker process: {error_text(error)}; "
                "use a module-level function or an instance of a module-level class"
            ) from error

    def _running_count(self) -> int:
        return sum(worker.unit is not None for worker in self._workers)

    def _dispatch(self) -> None:
        for worker in self._workers:
            if not self._queue:
                return
            if worker.unit is None:
                self._start(worker, self._queue.popleft())

    def _start(self, worker: _Worker, unit: Unit) -> None:
        message = (unit.id, self._payloads.pop(unit.id))
        for attempt in (1, 2):
            if worker.process is None or not worker.process.is_alive():
                _kill(worker)
                self._spawn(worker)
            assert worker.conn is not None
            try:
                worker.conn.send(message)
                break
            except OSError:  # it died since the check; a fresh one gets the unit
                if attempt == 2:
                    raise
                _kill(worker)
        worker.unit, worker.started = unit, time.monotonic()

    def _spawn(self, worker: _Worker) -> None:
        """Start ``worker``'s process, always from this executor's own thread.

        Linux's ``PR_SET_PDEATHSIG`` kills a child when the *thread* that started it ends,
        not its process: a worker started while a caller's short-lived thread drives the
        executor (a design loop folds its batches from a background thread) would be
        killed with that thread, under a later unit. One long-lived thread starts them all.
        """
        if self._spawner is None:
            self._spawner = ThreadPoolExecutor(1, thread_name_prefix=f"{self.name}-spawner")
        self._spawner.submit(self._start_process, worker).result()

    def _start_process(self, worker: _Worker) -> None:
        parent_conn, child_conn = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_worker_main,
            args=(child_conn, worker.number, os.getpid()),
            name=f"{self.name}-{worker.number}",
            daemon=False,  # a unit may start processes of its own
        )
        process.start()
        child_conn.close()
        worker.process, worker.conn = process, parent_conn

    def wait(self, timeout: float | None = None) -> list[Done]:
        """Block until at least one unit is over, or ``timeout`` s have passed (then ``[]``).

        A unit is over when it returns or raises, when its worker process dies
        (``worker process died (exit code N)``) or at its timeout (the worker and its
        process group are killed).
        """
        end = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while True:
            busy = [worker for worker in self._workers if worker.unit is not None]
            if not busy:
                return []
            ready = set(wait_for(self._handles(busy), self._block(busy, end)))
            done = [d for worker in busy if (d := self._collect(worker, ready)) is not None]
            self._dispatch()
            if done:
                return done
            if end is not None and time.monotonic() >= end:
                return []

    @staticmethod
    def _handles(busy: list[_Worker]) -> list[Any]:
        return [w.conn for w in busy] + [w.process.sentinel for w in busy]

    @staticmethod
    def _block(busy: list[_Worker], end: float | None) -> float | None:
        """Seconds to block: until the next unit's timeout or the caller's ``end``."""
        ends = [w.started + w.unit.timeout for w in busy if w.unit and w.unit.timeout]
        if end is not None:
            ends.append(end)
        return max(0.0, min(ends) - time.monotonic()) if ends else None

    def _collect(self, worker: _Worker, ready: set[Any]) -> Done | None:
        unit = worker.unit
        assert unit is not None and worker.conn is not None
        elapsed = time.monotonic() - worker.started
        if worker.conn in ready:
            done = self._receive(worker, unit, elapsed)
            if done is not None:
                worker.unit = None
                return self._finish(done)
        if worker.process.sentinel in ready or not worker.process.is_alive():
            worker.process.join(1)
            error = f"worker process died (exit code {worker.process.exitcode})"
        elif unit.timeout is not None and elapsed >= unit.timeout:
            error = timeout_error(unit.timeout)
        else:
            return None
        _kill(worker)
        return self._finish(Done(unit.id, None, error, None, elapsed, worker.number))

    @staticmethod
    def _receive(worker: _Worker, unit: Unit, elapsed: float) -> Done | None:
        assert worker.conn is not None
        try:
            return worker.conn.recv()
        except (EOFError, OSError):
            return None  # the worker died: its sentinel tells
        except Exception as error:  # noqa: BLE001 - the value cannot be unpickled here
            text = f"{error_text(error)} (the unit's value cannot be received)"
            return Done(unit.id, None, text[:ERROR_CHARS], None, elapsed, worker.number)

    def cancel(self, unit_id: str) -> Done | None:
        """Drop a queued unit, or kill the worker running it; None for an unknown id.

        A unit that had already finished but was not yet collected is dropped too (its
        value discarded, its worker kept).
        """
        queued = self._cancel_queued(unit_id)
        if queued is not None:
            self._payloads.pop(unit_id, None)
            return queued
        worker = next((w for w in self._workers if w.unit and w.unit.id == unit_id), None)
        if worker is None:
            return None
        assert worker.conn is not None
        elapsed = time.monotonic() - worker.started
        finished = False
        with contextlib.suppress(Exception):
            finished = worker.conn.poll() and worker.conn.recv() is not None
        if finished:
            worker.unit = None
        else:
            _kill(worker)
        self._dispatch()
        return self._finish(Done(unit_id, None, CANCELLED, None, elapsed, worker.number))

    def shutdown(self) -> None:
        """Stop every worker; running units are killed, queued ones dropped."""
        self._queue.clear()
        self._payloads.clear()
        self._ids.clear()
        _stop_workers(self._workers)
        if self._spawner is not None:
            self._spawner.shutdown()
            self._spawner = None


def run_until(executor: Executor, units: Iterable[Unit], deadline: float) -> dict[str, Done]:
    """Run ``units`` until ``deadline`` (``time.monotonic()``); cancel those not over by then.

    Units that finished by the deadline but were not yet received are collected too. The
    executor should have no other units in flight (what they return would be dropped).

    Returns:
        The :class:`Done` of every unit over by the deadline, by id (the cancelled ones
        are absent).
    """
    units = list(units)
    ids = {unit.id for unit in units}
    dones: dict[str, Done] = {}
    try:
        for unit in units:
            executor.submit(unit)
        while len(dones) < len(units) and (left := deadline - time.monotonic()) > 0:
            dones.update((d.id, d) for d in executor.wait(left) if d.id in ids)
        while len(dones) < len(units) and (over := executor.wait(0)):
            dones.update((d.id, d) for d in over if d.id in ids)  # over, not yet received
    finally:
        for unit_id in ids - dones.keys():
            executor.cancel(unit_id)
    return dones


def run_all(executor: Executor, units: Iterable[Unit]) -> list[Done]:
    """Run ``units`` on ``executor``; return their :class:`Done` objects in the units' order.

    The units are queued at once and start as slots free up. The executor should have no
    other units in flight (what they return would be dropped). An interruption (an
    exception out of ``wait``, e.g. ``KeyboardInterrupt``) cancels the units not yet over
    before it propagates.

    Raises:
        ValueError: two units share an id.
    """
    units = list(units)
    ids = [unit.id for unit in units]
    if len(set(ids)) != len(ids):
        raise ValueError("run_all: unit ids must be unique")
    pending = set()
    found: dict[str, Done] = {}
    try:
        for unit in units:
            executor.submit(unit)
            pending.add(unit.id)
        while pending:
            dones = executor.wait()
            if not dones:
                raise RuntimeError(f"run_all: the executor lost units {sorted(pending)}")
            for done in dones:
                if done.id in pending:
                    pending.discard(done.id)
                    found[done.id] = done
    except BaseException:
        for unit_id in pending:
            executor.cancel(unit_id)
        raise
    return [found[unit_id] for unit_id in ids]

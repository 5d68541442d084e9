"""hpbandster, the reference BOHB (Falkner et al. 2018), driven as an ask/tell object.

hpbandster runs an optimization as a Pyro4 nameserver, a master (with a dispatcher) and
workers that the master calls over Pyro. :class:`HpBandSterBOHB` runs all of that in
background threads of this process with a single worker whose ``compute`` hands each
request to :meth:`HpBandSterBOHB.ask` and blocks until :meth:`HpBandSterBOHB.tell` delivers
the loss. With one worker hpbandster is serial, so asks and tells alternate.

Details that make this work and reproducible:

- **numpy scalars over Pyro.** hpbandster submits the sampled configuration and the budget
  (numpy scalars from ConfigSpace and from its budget array) to the worker through Pyro's
  ``serpent`` serializer, which rejects ``np.int64``/``np.bool_`` and, under numpy 2, writes
  ``np.float64`` as ``np.float64(9.0)``, which the receiver cannot parse. The failure kills
  hpbandster's ``job_runner`` thread and the run hangs. The master here converts the job to
  plain Python values at that single crossing point (nothing numpy-typed crosses elsewhere:
  job ids are Python ints and the worker's result is built here), so no process-wide
  serializer registration is needed.
- **Random numbers.** hpbandster draws from numpy's *global* RNG (``np.random.rand``,
  ``randint``, ``scipy.stats.truncnorm.rvs``) and from the ConfigSpace's own RNG. The space is
  copied and seeded with ``seed``; the global RNG is given hpbandster's own state (the state
  ``np.random.seed(seed)`` sets) only while hpbandster computes, which is between a
  :meth:`~HpBandSterBOHB.tell` (or the first :meth:`~HpBandSterBOHB.ask`) and its next request:
  :meth:`~HpBandSterBOHB.tell` waits for that request, and the caller's global RNG state is
  restored afterwards. So global-RNG use by the caller between asks and tells neither breaks
  reproducibility nor is disturbed; same seed and same losses give the same configurations.
  Windows of different instances are serialized by a process-wide lock. Other threads that
  use numpy's global RNG *while* a tell or ask is waiting still interfere.
- **Threads.** Everything hpbandster starts (nameserver, dispatcher and its helper threads,
  worker, Pyro pools) is started from a daemon thread and inherits daemon status, so a
  forgotten :meth:`~HpBandSterBOHB.close` cannot keep the interpreter alive;
  :meth:`~HpBandSterBOHB.close` stops and joins them all (with timeouts; only when an
  hpbandster thread crashed holding the dispatcher's lock do the dispatcher's threads stay
  blocked, as daemons). A pending evaluation is cancelled by close: hpbandster records it
  as failed.
- **Logging.** Unless they were configured explicitly, Pyro4's logger is set to WARNING and
  hpbandster's to ERROR: at WARNING, hpbandster's BOHB dumps both KDEs' data whenever a
  candidate's density ratio is not finite (statsmodels' categorical kernel, see
  :mod:`autorl.bohb.kde`), many times per run, and logs a traceback per failed evaluation.

hpbandster is an optional dependency: it is imported only when a run starts.
"""

from __future__ import annotations

import copy
import importlib.util
import itertools
import logging
import math
import os
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from ConfigSpace import ConfigurationSpace

__all__ = ["HpBandSterBOHB", "hpbandster_available"]

_METHODS = ("bohb", "hyperband")
_RNG_LOCK = threading.Lock()  # serializes the global-RNG windows of all instances
_RUN_IDS = itertools.count()
_JOIN_TIMEOUT = 5.0
_CLOSED = object()  # delivered to a blocked worker when the run is closed
# What a worker returns for a job cancelled by close(): hpbandster records it as crashed
# (non-finite loss) without the warning and traceback an exception would log.
_CANCELLED = {"loss": math.inf, "info": {"cancelled": True}}


def hpbandster_available() -> bool:
    """Whether hpbandster (the optional reference BOHB) can be imported."""
    return importlib.util.find_spec("hpbandster") is not None


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays turned into Python objects (recursively)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _quiet_loggers() -> None:
    # hpbandster's BOHB logs a multi-line WARNING (with both KDEs' data) whenever a sampled
    # vector has a non-finite l/g ratio, which on counting ones happens many times per run;
    # so its logger is set to ERROR. Failed evaluations are logged at WARNING as well.
    for name, level in (("hpbandster", logging.ERROR), ("Pyro4", logging.WARNING)):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(level)
    # The same non-finite ratio also raises numpy's RuntimeWarning inside hpbandster's BOHB
    # (statsmodels' categorical kernel divides by zero); it is that code's, not the user's.
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"hpbandster\.")
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"statsmodels\.")
    # statsmodels (through pandas) announces a change of numpy's default generator.
    warnings.filterwarnings("ignore", category=FutureWarning, message=r"After 0\.17 or January")


class _Bridge:
    """State shared by the front end, the worker and the master (guarded by ``cond``)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.request: tuple[dict[str, Any], float] | None = None  # queued, not yet asked
        self.waiting = False  # a worker is blocked waiting for a loss
        self.reply: list[Any] = []  # the loss (or _CLOSED) for the blocked worker
        self.in_flight = 0  # jobs submitted by the master whose result is not registered
        self.done = False  # the master's run is over (normally or not)
        self.closed = False
        self.error: BaseException | None = None

    def idle(self) -> bool:
        """Whether hpbandster waits for us: a request is queued, or the run is over."""
        return self.request is not None or self.done or self.closed


def _worker_class(bridge: _Bridge) -> type:
    from hpbandster.core.worker import Worker

    class _AskTellWorker(Worker):
        def compute(
            self, config_id: Any, config: dict, budget: float, working_directory: str
        ) -> dict[str, Any]:
            with bridge.cond:
                if bridge.closed:
                    return _CANCELLED
                bridge.request = (_plain(dict(config)), float(budget))
                bridge.waiting = True
                bridge.cond.notify_all()
                bridge.cond.wait_for(lambda: bool(bridge.reply))
                loss = bridge.reply.pop()
                bridge.waiting = False
            if loss is _CLOSED:
                return _CANCELLED
            if not math.isfinite(loss):
                raise RuntimeError(f"evaluation failed (loss {loss})")
            return {"loss": float(loss), "info": {}}

    return _AskTellWorker


def _master_class(method: str, bridge: _Bridge) -> type:
    if method == "bohb":
        from hpbandster.optimizers import BOHB as base
    else:
        from hpbandster.optimizers import HyperBand as base

    class _StoppableMaster(base):
        """The optimizer, plus plain-Python job submission and a way to stop ``run``."""

        stopping = False

        def stop(self) -> None:
            # thread_cond is an RLock-based condition; a crashed master may still hold it.
            if self.thread_cond.acquire(timeout=_JOIN_TIMEOUT):
                try:
                    self.stopping = True
                    self.thread_cond.notify_all()
                finally:
                    self.thread_cond.release()
            else:
                self.stopping = True

        def active_iterations(self) -> list[int]:
            return [] if self.stopping else super().active_iterations()

        def wait_for_workers(self, min_n_workers: int = 1) -> None:
            with self.thread_cond:
                while not self.stopping and self.dispatcher.number_of_workers() < min_n_workers:
                    self.thread_cond.wait(0.1)
                    self.dispatcher.trigger_discover_worker()

        def _queue_wait(self) -> None:
            if self.num_running_jobs >= self.job_queue_sizes[1]:
                while self.num_running_jobs > self.job_queue_sizes[0] and not self.stopping:
                    self.thread_cond.wait()

        def _submit_job(self, config_id: Any, config: dict, budget: float) -> None:
            with bridge.cond:
                bridge.in_flight += 1
            super()._submit_job(_plain(config_id), _plain(config), float(budget))

        def job_callback(self, job: Any) -> None:
            try:
                super().job_callback(job)
            finally:
                with bridge.cond:
                    bridge.in_flight -= 1
                    bridge.cond.notify_all()

    return _StoppableMaster


class HpBandSterBOHB:
    """hpbandster's BOHB (or Hyperband) as an ask/tell optimizer.

    The run starts at the first :meth:`ask`. Each :meth:`ask` returns one evaluation
    ``(key, config, budget)``; it must be answered by :meth:`tell` before the next ask.

    Args:
        space: The search space (copied, and the copy seeded with ``seed``).
        min_budget: The smallest budget.
        max_budget: The largest budget.
        eta: The halving rate.
        iterations: The number of successive-halving iterations (hpbandster's
            ``n_iterations``).
        seed: Seeds the space copy and hpbandster's numpy global-RNG stream.
        method: ``"bohb"`` (``hpbandster.optimizers.BOHB`` with its default settings) or
            ``"hyperband"`` (``hpbandster.optimizers.HyperBand``).
        timeout: Seconds to wait for hpbandster to produce a request (the default of
            :meth:`ask`'s ``timeout``; also bounds :meth:`tell`).

    Raises:
        ModuleNotFoundError: hpbandster is not installed.
        ValueError: unknown method or invalid budgets / iterations.
    """

    def __init__(
        self,
        space: ConfigurationSpace,
        min_budget: float,
        max_budget: float,
        eta: float,
        iterations: int,
        seed: int,
        *,
        method: str = "bohb",
        timeout: float = 120.0,
    ):
        if not hpbandster_available():
            raise ModuleNotFoundError("the reference BOHB needs hpbandster: pip install hpbandster")
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
        if not 0 < min_budget <= max_budget:
            raise ValueError(f"need 0 < min_budget <= max_budget, got {min_budget}, {max_budget}")
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        if eta <= 1:
            raise ValueError(f"eta must be > 1, got {eta}")
        self.space = copy.deepcopy(space)
        self.space.seed(seed)
        self.min_budget = float(min_budget)
        self.max_budget = float(max_budget)
        self.eta = float(eta)
        self.iterations = int(iterations)
        self.seed = int(seed)
        self.method = method
        self.timeout = float(timeout)
        self._rng_state = np.random.RandomState(seed).get_state()
        self._bridge = _Bridge()
        self._handles: dict[str, Any] = {}  # nameserver, ns_thread, worker, master
        self._handles_lock = threading.Lock()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._pending: int | None = None
        self._keys = itertools.count()
        self._run_id = f"autorl-{os.getpid()}-{next(_RUN_IDS)}"

    # -- public API ------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """Whether the run is over (all iterations done, failed, or closed)."""
        with self._bridge.cond:
            return self._bridge.closed or (self._bridge.done and self._bridge.request is None)

    def ask(self, timeout: float | None = None) -> tuple[int, dict[str, Any], float] | None:
        """The next evaluation ``(key, config, budget)`` hpbandster wants; None once it is over.

        Args:
            timeout: Seconds to wait for hpbandster (None: the constructor's ``timeout``).

        Raises:
            RuntimeError: the previous evaluation was not told, or hpbandster failed.
            TimeoutError: hpbandster produced no request in time.
        """
        if self._pending is not None:
            raise RuntimeError(f"tell the result of evaluation {self._pending} before asking")
        bridge = self._bridge
        with bridge.cond:
            if bridge.closed:
                return None
        wait = self.timeout if timeout is None else float(timeout)
        with self._rng_window():
            if self._thread is None:
                _quiet_loggers()
                self._thread = threading.Thread(
                    target=self._run, name=f"hpbandster master {self._run_id}", daemon=True
                )
                self._thread.start()
            with bridge.cond:
                bridge.cond.wait_for(bridge.idle, wait)
        with bridge.cond:
            if bridge.request is not None and not bridge.closed:
                config, budget = bridge.request
                bridge.request = None
                self._pending = next(self._keys)
                return self._pending, config, budget
            if bridge.error is not None:
                raise RuntimeError("hpbandster failed") from bridge.error
            if bridge.done or bridge.closed:
                return None
        raise TimeoutError(f"hpbandster produced no request within {wait:g} s")

    def tell(self, key: int, loss: float) -> None:
        """Report the loss of evaluation ``key``; a non-finite loss marks it as failed.

        Returns once hpbandster has processed the result (queued its next request or ended
        the run), waiting at most the constructor's ``timeout``.

        Raises:
            KeyError: ``key`` is not the evaluation waiting for its result.
        """
        if key != self._pending:
            raise KeyError(f"evaluation {key} is not waiting for a result")
        self._pending = None
        loss = float(loss)
        bridge = self._bridge
        with self._rng_window(), bridge.cond:
            if bridge.closed:
                return
            bridge.reply.append(loss)
            bridge.cond.notify_all()
            bridge.cond.wait_for(bridge.idle, self.timeout)

    def close(self) -> None:
        """Stop the run and shut hpbandster's master, worker and nameserver down (idempotent)."""
        with self._handles_lock:
            if self._closing:
                return
            self._closing = True  # from now on, the run's setup stops (see _register)
            master = self._handles.get("master")
        if master is not None:
            master.stop()  # first, so that it schedules nothing after the cancelled job
        bridge = self._bridge
        with bridge.cond:
            bridge.closed = True
            cancelled = bridge.waiting and not bridge.reply
            if cancelled:
                bridge.reply.append(_CLOSED)
            bridge.cond.notify_all()
        self._pending = None
        if self._thread is not None:
            self._thread.join(_JOIN_TIMEOUT)
        if cancelled:  # let the cancelled job's result reach the master before shutting down
            with bridge.cond:
                bridge.cond.wait_for(lambda: bridge.in_flight <= 0, _JOIN_TIMEOUT)
        self._shutdown()

    def __enter__(self) -> HpBandSterBOHB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    @contextmanager
    def _rng_window(self) -> Iterator[None]:
        """Give numpy's global RNG hpbandster's state while hpbandster computes."""
        with _RNG_LOCK:
            outer = np.random.get_state()
            np.random.set_state(self._rng_state)
            try:
                yield
            finally:
                self._rng_state = np.random.get_state()
                np.random.set_state(outer)

    def _register(self, name: str, handle: Any) -> None:
        with self._handles_lock:
            self._handles[name] = handle
            if self._closing:
                raise _Closed

    def _run(self) -> None:
        """The run, in a daemon thread (so every thread hpbandster starts is a daemon)."""
        bridge = self._bridge
        try:
            from hpbandster.core.nameserver import NameServer

            nameserver = NameServer(run_id=self._run_id, host="127.0.0.1", port=0)
            host, port = nameserver.start()
            self._register("nameserver", nameserver)
            self._register("ns_thread", _nameserver_thread(nameserver))
            worker = _worker_class(bridge)(
                run_id=self._run_id,
                nameserver=host,
                nameserver_port=port,
                host="127.0.0.1",
                logger=logging.getLogger("hpbandster.worker"),
            )
            worker.run(background=True)
            self._register("worker", worker)
            master = _master_class(self.method, bridge)(
                configspace=self.space,
                run_id=self._run_id,
                nameserver=host,
                nameserver_port=port,
                host="127.0.0.1",
                min_budget=self.min_budget,
                max_budget=self.max_budget,
                eta=self.eta,
            )
            self._register("master", master)
            master.run(n_iterations=self.iterations, min_n_workers=1)
        except _Closed:
            pass
        except BaseException as exc:  # surfaced by ask()
            with bridge.cond:
                bridge.error = exc
        finally:
            with bridge.cond:
                bridge.done = True
                bridge.cond.notify_all()

    def _shutdown(self) -> None:
        """Shut down dispatcher, worker and nameserver, joining their threads."""
        with self._handles_lock:
            handles = dict(self._handles)
            self._handles.clear()
        master = handles.get("master")
        if master is not None:
            dispatcher = master.dispatcher
            daemon = _wait_for_attr(dispatcher, "pyro_daemon")
            # Dispatcher.shutdown() takes runner_cond's lock, which a crashed job_runner
            # thread never releases (the dispatcher thread then cannot finish either).
            healthy = dispatcher.runner_cond.acquire(timeout=1.0)
            try:
                if daemon is not None:
                    daemon.shutdown()
            finally:
                if healthy:
                    dispatcher.runner_cond.release()
            master.dispatcher_thread.join(_JOIN_TIMEOUT if healthy else 0)
        worker = handles.get("worker")
        if worker is not None:
            daemon = _wait_for_attr(worker, "pyro_daemon")
            if daemon is not None:
                daemon.shutdown()
            if worker.thread is not None:
                worker.thread.join(_JOIN_TIMEOUT)
        nameserver = handles.get("nameserver")
        if nameserver is not None:
            nameserver.shutdown()
            ns_thread = handles.get("ns_thread")
            if ns_thread is not None:
                ns_thread.join(_JOIN_TIMEOUT)


class _Closed(Exception):
    """The run was closed while it was being set up."""


def _nameserver_thread(nameserver: Any) -> threading.Thread | None:
    """The thread running ``nameserver``'s request loop (NameServer keeps no handle on it)."""
    loop = nameserver.pyro_ns
    for thread in threading.enumerate():
        if getattr(getattr(thread, "_target", None), "__self__", None) is loop:
            return thread
    return None


def _wait_for_attr(obj: Any, name: str, timeout: float = _JOIN_TIMEOUT) -> Any:
    """``obj.name`` once a starting thread has set it (None after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while (value := getattr(obj, name, None)) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return value

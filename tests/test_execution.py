"""The executor protocol (envs.execution, envs.ray_execution): values, errors, timeouts, deaths.

The functions below run in worker processes (imported there by name) or in Ray tasks
(shipped by value: Ray workers cannot import the tests' folder).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cpu_helpers import burn

from envs.execution import (
    CANCELLED,
    Done,
    ProcessExecutor,
    RemoteTraceback,
    SerialExecutor,
    Unit,
    UnitError,
    run_all,
    serial_cpu_seconds,
)

# ----------------------------------------------------------------------------- unit functions


def square(x: int) -> int:
    return x * x


def fail(message: str) -> None:
    raise ValueError(message)


def pid() -> int:
    return os.getpid()


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def with_grandchild(marker: str, seconds: float) -> None:
    """Start a long ``sleep`` process, record its pid in ``marker``, then sleep."""
    child = subprocess.Popen(["sleep", "600"])
    written = Path(marker + ".tmp")
    written.write_text(str(child.pid))
    written.replace(marker)  # atomic: the test never reads a created but empty file
    time.sleep(seconds)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def die_once(marker: str) -> int:
    """Kill this process unless ``marker`` exists (it is created first); then answer."""
    if not Path(marker).exists():
        Path(marker).write_text("killed once\n")
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


def unpicklable_value() -> object:
    return lambda: None


class CountPickles:
    """A unit function that counts how often it is pickled in the driver."""

    pickled = 0

    def __getstate__(self) -> dict:
        type(self).pickled += 1
        return {}

    def __setstate__(self, state: dict) -> None:
        pass

    def __call__(self, x: int) -> int:
        return x + 1


# ----------------------------------------------------------------------------- helpers


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as file:
        return int(file.read().rsplit(")", 1)[1].split()[1])


def _gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(pid)


def _collect(executor, count: int) -> dict[str, Done]:
    found: dict[str, Done] = {}
    while len(found) < count:
        found.update((done.id, done) for done in executor.wait())
    return found


def _make(kind: str, slots: int = 1):
    return SerialExecutor() if kind == "serial" else ProcessExecutor(slots)


# ----------------------------------------------------------------------------- local executors


@pytest.mark.parametrize("kind", ["serial", "process"])
def test_values_and_exceptions_come_back_as_dones(kind):
    with _make(kind) as executor:
        assert executor.slots == 1 and executor.idle == 1
        executor.submit(Unit("good", square, (7,)))
        executor.submit(Unit("bad", fail, ("broken",)))
        assert executor.idle == 0  # one running (or queued), one queued
        dones = _collect(executor, 2)
        assert executor.idle == 1 and executor.wait() == []
    good, bad = dones["good"], dones["bad"]
    assert good.ok and good.value == 49 and good.error is None and good.result() == 49
    assert good.attempts == 1 and good.retry_error is None and good.seconds >= 0
    assert not bad.ok and bad.value is None and bad.error == "ValueError: broken"
    assert "raise ValueError(message)" in bad.traceback
    with pytest.raises(UnitError, match="unit bad: ValueError: broken") as raised:
        bad.result()
    assert isinstance(raised.value.__cause__, RemoteTraceback)
    assert good.worker == bad.worker == (0 if kind == "serial" else 1)


def test_units_queue_for_a_free_worker_and_their_timeout_starts_with_them():
    with ProcessExecutor(1) as executor:
        executor.submit(Unit("first", nap, (1.5,)))
        executor.submit(Unit("second", square, (3,), timeout=1.0))  # waits 1.5 s in the queue
        dones = _collect(executor, 2)
    assert dones["first"].value == 1.5 and dones["second"].value == 9


def test_a_unit_over_its_timeout_is_killed_with_the_processes_it_started(tmp_path):
    marker = tmp_path / "grandchild"
    with ProcessExecutor(1) as executor:
        executor.submit(Unit("slow", with_grandchild, (str(marker), 60.0), timeout=2.0))
        start = time.monotonic()
        [done] = executor.wait()
        assert time.monotonic() - start < 20  # not the 60 s of the unit
        assert done.error == "TimeoutError: unit exceeded its timeout of 2 s"
        assert done.seconds >= 2.0 and done.value is None
        assert _gone(int(marker.read_text()))  # the unit's own child went with it
        executor.submit(Unit("next", square, (4,), timeout=30))
        [done] = executor.wait()
        assert done.value == 16  # a fresh worker took over


def test_a_worker_killed_mid_unit_is_an_error_and_the_next_unit_runs():
    with ProcessExecutor(1) as executor:
        executor.submit(Unit("before", pid))
        [first] = executor.wait()
        executor.submit(Unit("dies", die))
        [dead] = executor.wait()
        assert dead.error == f"worker process died (exit code {-signal.SIGKILL})"
        assert dead.worker == 1
        executor.submit(Unit("after", pid))
        [after] = executor.wait()
    assert after.ok and after.value != first.value  # the dead worker was replaced


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_started_while_a_short_lived_thread_drives_the_executor_outlive_it():
    """Linux kills a child with the *thread* that started it (PR_SET_PDEATHSIG): the
    executor starts its processes from its own thread."""
    with ProcessExecutor(2) as executor:
        found: list[Done] = []
        thread = threading.Thread(
            target=lambda: found.extend(run_all(executor, [Unit("in-thread", pid)]))
        )
        thread.start()
        thread.join()
        time.sleep(0.5)  # a worker killed with the thread is dead (a zombie) by now
        state = Path(f"/proc/{found[0].value}/stat").read_text().rsplit(")", 1)[1].split()[0]
        assert state in "RSD"  # running or sleeping, not a zombie ("Z")
        dones = run_all(executor, [Unit(f"after-{i}", square, (i,)) for i in range(4)])
    assert [done.value for done in dones] == [0, 1, 4, 9]


def test_cancel_stops_a_running_unit_and_drops_a_queued_one():
    with ProcessExecutor(1) as executor:
        executor.submit(Unit("running", nap, (60.0,)))
        executor.submit(Unit("queued", square, (2,)))
        queued = executor.cancel("queued")
        assert queued is not None and queued.error == CANCELLED and queued.id == "queued"
        start = time.monotonic()
        running = executor.cancel("running")
        assert running is not None and running.error == CANCELLED and running.worker == 1
        assert time.monotonic() - start < 10
        assert executor.cancel("running") is None and executor.cancel("unknown") is None
        assert executor.wait(0.1) == []  # the cancelled units do not come back
        executor.submit(Unit("running", square, (5,)))  # the id is free again
        [done] = executor.wait()
    assert done.value == 25


def test_serial_cpu_counts_the_serial_units_cpu_only():
    # The throughput benchmark tells a one-worker loop's folds from its learning by it.
    before = serial_cpu_seconds()
    (done,) = run_all(SerialExecutor(), [Unit("burn", burn, (0.2,))])
    spent = done.result()
    counted = serial_cpu_seconds() - before
    assert spent <= counted < spent + 0.05  # the unit's CPU and the executor's bookkeeping
    before = serial_cpu_seconds()
    (done,) = run_all(SerialExecutor(), [Unit("nap", nap, (0.2,))])
    assert done.result() == 0.2 and serial_cpu_seconds() - before < 0.05  # CPU, not wall time
    # Neither a worker process's units nor another thread's CPU count.
    before = serial_cpu_seconds()
    with ProcessExecutor(1) as executor:
        (done,) = run_all(executor, [Unit("burn", burn, (0.1,))])
    assert done.result() >= 0.1
    other = threading.Thread(target=burn, args=(0.1,))
    other.start()
    other.join()
    burn(0.05)  # this thread, outside any unit
    assert serial_cpu_seconds() == before


def test_wait_with_a_timeout_returns_nothing_when_no_unit_finished():
    with ProcessExecutor(2) as executor:
        assert executor.wait() == [] and executor.wait(0.1) == []  # nothing in flight
        executor.submit(Unit("long", nap, (3.0,)))
        start = time.monotonic()
        assert executor.wait(0.3) == []
        assert time.monotonic() - start < 2.5
        [done] = executor.wait()
    assert done.value == 3.0


def test_shutdown_leaves_no_process_behind(tmp_path):
    marker = tmp_path / "grandchild"
    executor = ProcessExecutor(2)
    executor.submit(Unit("idle", pid))
    executor.submit(Unit("busy", with_grandchild, (str(marker), 60.0)))  # on the other worker
    [idle] = executor.wait()
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    grandchild = int(marker.read_text())
    busy = _parent(grandchild)
    assert busy != idle.value  # two workers
    executor.shutdown()
    assert executor.idle == 2 and executor.wait(0) == []
    for process in (idle.value, busy, grandchild):
        assert _gone(process), process


def test_run_all_returns_dones_in_order_and_keeps_errors():
    units = [Unit(str(x), square, (x,)) for x in range(12)] + [Unit("bad", fail, ("no",))]
    with ProcessExecutor(2) as executor:
        dones = run_all(executor, units)
        assert executor.idle == 2
    assert [d.value for d in dones[:-1]] == [x * x for x in range(12)]
    assert dones[-1].error == "ValueError: no"
    assert {d.worker for d in dones} <= {1, 2}
    with pytest.raises(ValueError, match="unique"):
        run_all(SerialExecutor(), [Unit("a", pid), Unit("a", pid)])


def test_bad_units_and_settings_are_refused():
    with pytest.raises(ValueError, match="non-empty string"):
        Unit("", pid)
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        Unit("a", pid, timeout=0)
    with pytest.raises(ValueError, match="cpus must be >= 0"):
        Unit("a", pid, cpus=-1)
    with pytest.raises(ValueError, match="fn must be callable"):
        Unit("a", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workers must be >= 1"):
        ProcessExecutor(0)
    with ProcessExecutor(1) as executor:
        with pytest.raises(ValueError, match="cannot be sent to a worker process"):
            executor.submit(Unit("local", lambda: 1))
        executor.submit(Unit("a", nap, (0.1,)))
        with pytest.raises(ValueError, match="already submitted"):
            executor.submit(Unit("a", pid))
        with pytest.raises(ValueError, match="takes a Unit"):
            executor.submit(("a", pid))  # type: ignore[arg-type]
        executor.submit(Unit("value", unpicklable_value))
        dones = _collect(executor, 2)
    assert "cannot be sent back" in dones["value"].error


# ----------------------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_ready(ray_cluster):
    """Ray workers cannot import the tests' folder: ship this module by value."""
    import ray.cloudpickle

    module = sys.modules[__name__]
    ray.cloudpickle.register_pickle_by_value(module)
    yield ray_cluster
    ray.cloudpickle.unregister_pickle_by_value(module)


def test_ray_units_return_values_errors_and_declare_their_resources(ray_ready):
    from envs.ray_execution import RayExecutor

    function = CountPickles()
    CountPickles.pickled = 0
    with RayExecutor(2) as executor:
        executor.submit(Unit("a", function, (1,), cpus=0.5))
        executor.submit(Unit("b", fail, ("remote",)))
        executor.submit(Unit("c", function, (2,), cpus=0.5))  # queued in the driver
        assert executor.idle == 0
        dones = _collect(executor, 3)
        executor.submit(Unit("d", function, (3,)))
        dones.update(_collect(executor, 1))
    assert [dones[k].value for k in "acd"] == [2, 3, 4]
    assert CountPickles.pickled == 1  # shipped once for every unit using it
    assert dones["b"].error == "ValueError: remote" and "ValueError" in dones["b"].traceback
    assert {dones[k].worker for k in "abcd"} <= {1, 2}
    with RayExecutor(1) as executor:  # a unit no node can hold waits; its timeout ends it
        executor.submit(Unit("x", square, (1,), cpus=64, timeout=2))
        [done] = executor.wait()
    assert done.error == "TimeoutError: unit exceeded its timeout of 2 s"


def test_ray_timeout_cancel_and_wait_with_a_timeout(ray_ready):
    from envs.ray_execution import RayExecutor

    with RayExecutor(2) as executor:
        executor.submit(Unit("slow", nap, (60.0,), timeout=3.0))
        executor.submit(Unit("doomed", nap, (60.0,)))
        start = time.monotonic()
        assert executor.wait(0.2) == []
        assert time.monotonic() - start < 5
        cancelled = executor.cancel("doomed")
        assert cancelled is not None and cancelled.error == CANCELLED
        assert executor.cancel("doomed") is None
        [done] = executor.wait()
        assert done.id == "slow" and "timeout of 3 s" in done.error
        assert time.monotonic() - start < 40  # not the 60 s sleep
        executor.submit(Unit("after", square, (6,)))
        [after] = executor.wait()
    assert after.value == 36


def test_ray_lost_worker_is_retried_once_then_given_up(ray_ready, tmp_path):
    from envs.ray_execution import RayExecutor

    with RayExecutor(2) as executor:
        executor.submit(Unit("once", die_once, (str(tmp_path / "marker"),)))
        executor.submit(Unit("always", die))
        dones = _collect(executor, 2)
    once, always = dones["once"], dones["always"]
    assert once.ok and once.attempts == 2 and "WorkerCrashedError" in once.retry_error
    assert not always.ok and always.attempts == 2
    assert always.error.startswith("worker process lost on 2 attempts: ")
    assert "WorkerCrashedError" in always.retry_error


def test_ray_executor_needs_a_connected_ray(monkeypatch):
    from envs.ray_execution import RayExecutor

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(RuntimeError, match="not installed"):
        RayExecutor(1)
    with pytest.raises(ValueError, match="slots must be >= 1"):
        RayExecutor(0)

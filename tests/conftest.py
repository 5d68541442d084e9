"""Shared fixtures: the benchmark data in ../shared/data (or $AUTORL_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_DEFAULT_DATA = REPO.parent / "shared" / "data"

if "AUTORL_DATA" not in os.environ and _DEFAULT_DATA.is_dir():
    os.environ["AUTORL_DATA"] = str(_DEFAULT_DATA)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder holding the benchmark target files; skips when it is absent."""
    path = Path(os.environ.get("AUTORL_DATA", _DEFAULT_DATA))
    if not (path / "rfam_taneda.txt").is_file():
        pytest.skip(f"benchmark data not found in {path} (set AUTORL_DATA)")
    return path


@pytest.fixture(scope="session")
def ray_cluster():
    """A real Ray instance for the tests that run on Ray; skips when Ray is not installed.

    With ``AUTORL_TEST_RAY_ADDRESS`` set (CI: a ``ray start --head --num-cpus 2`` node) the
    tests join that cluster; otherwise a local 2-CPU instance is started for the session.
    Yields the ``ray`` module; its address is ``ray.get_runtime_context().gcs_address``.
    """
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
    from meta.cluster import ray_session

    address = os.environ.get("AUTORL_TEST_RAY_ADDRESS") or None
    with ray_session(address, num_cpus=None if address else 2):
        yield ray


@pytest.fixture(scope="session")
def ray_address(ray_cluster) -> str:
    """The GCS address of :func:`ray_cluster`, for commands run in a subprocess."""
    return ray_cluster.get_runtime_context().gcs_address


@pytest.fixture
def stage_spy(monkeypatch) -> list:
    """Every ensemble stage the design loop builds, as ``(kwargs, search)`` in build order."""
    from meta import design as design_module

    built: list = []
    real = design_module.EnsembleSearch

    def spy(*args, **kwargs):
        search = real(*args, **kwargs)
        built.append((kwargs, search))
        return search

    monkeypatch.setattr(design_module, "EnsembleSearch", spy)
    return built


@pytest.fixture
def harness_spy(monkeypatch) -> list:
    """Every ensemble stage the stage harness (``benchmarks.ensemble_stage``) builds."""
    from benchmarks import ensemble_stage

    built: list = []
    real = ensemble_stage.EnsembleSearch

    def spy(*args, **kwargs):
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(ensemble_stage, "EnsembleSearch", spy)
    return built


@pytest.fixture
def slow_evaluations(monkeypatch):
    """Install a fake clock on which every ensemble-stage evaluation takes ``seconds``.

    ``slow_evaluations(seconds, start)`` patches ``time.monotonic`` (every module reading
    it sees the fake clock) and returns the clock, ``{"now": start}``.
    """
    from envs import ensemble_search

    def install(seconds: float, start: float = 1000.0) -> dict:
        clock = {"now": start}

        def slowed(original):
            def slow(sequence, target, energy=None, *rest):
                clock["now"] += seconds
                return original(sequence, target, energy, *rest)

            return slow

        monkeypatch.setattr(ensemble_search.time, "monotonic", lambda: clock["now"])
        for name in ("positional_defects", "mfe_defects"):  # full and MFE-only evaluations
            monkeypatch.setattr(ensemble_search, name, slowed(getattr(ensemble_search, name)))
        return clock

    return install


@pytest.fixture
def one_thread():
    """Torch on one thread for the test (tiny networks; a shared CPU makes more threads
    much slower); the previous count is restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class BlasSpy:
    """Records numpy's BLAS thread counts when the functions it watches are called."""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch
        self.seen: list[list[int]] = []

    @staticmethod
    def threads() -> list[int]:
        """The thread count of every BLAS library loaded (numpy's OpenBLAS here)."""
        from threadpoolctl import threadpool_info

        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    def watch(self, owner, name: str) -> None:
        """Record the BLAS thread counts at each call of ``owner.name`` (then call it)."""
        real = getattr(owner, name)

        def spy(*args, **kwargs):
            self.seen.append(self.threads())
            return real(*args, **kwargs)

        self.monkeypatch.setattr(owner, name, spy)

    def check(self, call):
        """Run ``call`` with 2 BLAS threads: the watched functions must have seen
        ``meta.numpy_ppo.BLAS_THREADS`` once, and the 2 threads must be back afterwards."""
        from threadpoolctl import threadpool_limits

        from meta.numpy_ppo import BLAS_THREADS

        with threadpool_limits(2, user_api="blas"):
            before = self.threads()
            result = call()
            after = self.threads()
        assert before and set(before) == {2}  # numpy has a BLAS, here at two threads
        assert self.seen == [[BLAS_THREADS] * len(before)]
        assert after == before
        return result


@pytest.fixture
def blas_spy(monkeypatch) -> BlasSpy:
    """See :class:`BlasSpy`: the window policies' numpy must run on one BLAS thread."""
    return BlasSpy(monkeypatch)


@pytest.fixture
def return_bonuses(monkeypatch) -> list:
    """Every bonus ``meta.deferred_rewards.add_return_bonus`` is given (``site_credit``).

    The bonuses are still added; the list holds a copy of each, in the order given.
    """
    import numpy as np

    import meta.deferred_rewards as deferred_rewards

    seen: list = []
    real = deferred_rewards.add_return_bonus

    def recording(model, buffer, row, index, bonus, terminal=None):
        seen.append(np.array(bonus))
        real(model, buffer, row, index, bonus, terminal)

    monkeypatch.setattr(deferred_rewards, "add_return_bonus", recording)
    return seen

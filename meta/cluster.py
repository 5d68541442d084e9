"""Where the work runs: local processes (the default) or a Ray cluster.

Ray is optional (``pip install -e ".[ray]"``). Everything that can run on Ray (trials of
``autorl optimize``, jobs of ``autorl benchmark``, the environment workers of
``autorl meta-train``) connects through :func:`ray_session`:

- no address: a new local Ray instance is started for the run and shut down after it
  (``address="local"``, so an instance started with ``ray start`` is not joined by accident);
- ``auto``: the cluster this node belongs to (``ray start`` was run here);
- ``HOST:PORT`` (or ``ray://HOST:PORT`` for Ray Client): that cluster's head node.

An address nobody answers at fails within :data:`CONNECT_TIMEOUT` seconds with a
:class:`ClusterError` (a ``ValueError``: the CLI exits 2), before anything is written. Ray's
own connection attempt to an address that accepts TCP but is no Ray head retries for
about 20 s, so it runs in a daemon thread and is abandoned at the timeout.

Resources are checked up front (:func:`check_resources`): a unit asking for more GPUs or
CPUs than any node of the cluster has would otherwise wait forever in Ray's queue.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: The backends every scalable command accepts.
BACKENDS = ("local", "ray")
#: Seconds to wait for a Ray cluster to answer (``AUTORL_RAY_CONNECT_TIMEOUT`` overrides).
CONNECT_TIMEOUT = 10.0

INSTALL_HINT = 'pip install -e ".[ray]" (or pip install "ray>=2.9")'


class ClusterError(ValueError):
    """The cluster cannot be used as asked (unreachable, missing Ray, too few resources)."""


@dataclass(frozen=True)
class Backend:
    """Where a command's units of work run.

    Attributes:
        name: ``local`` (processes on this machine) or ``ray``.
        address: The Ray address (None: start a local Ray instance for the run).
        cpus: CPUs each unit declares to Ray (a trial, a benchmark job, an env actor).
        gpus: GPUs each unit declares to Ray (fractions share a GPU).
    """

    name: str = "local"
    address: str | None = None
    cpus: float = 1.0
    gpus: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in BACKENDS:
            raise ClusterError(f"--backend: unknown {self.name!r}; choose {' or '.join(BACKENDS)}")
        if self.address is not None and self.name != "ray":
            raise ClusterError("--ray-address needs --backend ray")
        if not self.cpus > 0:
            raise ClusterError(f"CPUs per unit must be > 0, got {self.cpus:g}")
        if self.gpus < 0:
            raise ClusterError(f"GPUs per unit must be >= 0, got {self.gpus:g}")

    @property
    def is_ray(self) -> bool:
        """Whether units run on Ray."""
        return self.name == "ray"

    def record(self) -> dict[str, Any]:
        """What a results file records about the backend."""
        return {"backend": self.name, "ray_address": self.address}


def import_ray() -> Any:
    """Import Ray, or explain how to install it.

    Raises:
        ClusterError: Ray is not installed.
    """
    try:
        import ray
    except ImportError:
        raise ClusterError(
            f"--backend ray needs Ray, which is not installed: {INSTALL_HINT}"
        ) from None
    return ray


def connect_timeout() -> float:
    """Seconds :func:`ray_session` waits for a cluster (``AUTORL_RAY_CONNECT_TIMEOUT``)."""
    value = os.environ.get("AUTORL_RAY_CONNECT_TIMEOUT")
    try:
        return float(value) if value else CONNECT_TIMEOUT
    except ValueError:
        raise ClusterError(f"AUTORL_RAY_CONNECT_TIMEOUT: not a number: {value!r}") from None


def _probe(address: str, timeout: float) -> None:
    """Fail at once when ``HOST:PORT`` has no listener or the host has no address."""
    text = address.removeprefix("ray://")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClusterError(
            f"--ray-address {address!r}: expected auto, HOST:PORT or ray://HOST:PORT"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=min(timeout, 3.0)):
            pass
    except OSError as error:
        raise ClusterError(
            f"--ray-address {address}: cannot reach the Ray head ({error.strerror or error}); "
            "start one with `ray start --head` or check the address"
        ) from None


def _use_auth_token() -> None:
    """Send this machine's Ray token (``~/.ray/auth_token``) when joining a cluster.

    Ray >= 2.5x enables token authentication on new clusters, but a driver that joins one by
    ``HOST:PORT`` only sends its token when ``RAY_AUTH_MODE`` says so; it then retries the
    refused connection until it times out. An explicit ``RAY_AUTH_MODE`` is left alone.
    """
    if "RAY_AUTH_MODE" in os.environ:
        return
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # a Ray without token authentication
        return
    with contextlib.suppress(Exception):
        maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _init(ray: Any, address: str | None, num_cpus: int | None, timeout: float) -> None:
    """``ray.init`` with a time limit (the attempt is abandoned in its thread)."""
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.WARNING,
        "configure_logging": True,
    }
    if address is None:
        kwargs.update(address="local", num_cpus=num_cpus)
    else:
        kwargs["address"] = address
    if address is None:  # starting Ray needs the main thread (its signal handlers)
        try:
            ray.init(**kwargs)
        except Exception as error:  # noqa: BLE001 - reported as a cluster error
            raise ClusterError(f"could not start a local Ray instance: {error}") from error
        return
    _use_auth_token()
    failure: list[BaseException] = []

    def connect() -> None:
        try:
            ray.init(**kwargs)
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            failure.append(error)

    thread = threading.Thread(target=connect, name="autorl-ray-connect", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ClusterError(
            f"--ray-address {address}: no Ray cluster answered within {timeout:g} s "
            "(is `ray start --head` running there? AUTORL_RAY_CONNECT_TIMEOUT waits longer)"
        )
    if failure:
        error = failure[0]
        raise ClusterError(
            f"--ray-address {address}: could not connect: {type(error).__name__}: {error}"
        )


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """Connect to (or start) Ray for the duration of a run; yield the ``ray`` module.

    A session that finds Ray already initialized (a test fixture, a notebook) uses it and
    leaves it running; otherwise Ray is shut down on exit.

    Args:
        address: ``auto``, ``HOST:PORT``, ``ray://HOST:PORT``, or None for a new local
            instance.
        num_cpus: CPUs of a new local instance (None: all of this machine's).

    Raises:
        ClusterError: Ray is missing, or the cluster did not answer in time.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    timeout = connect_timeout()
    if address not in (None, "auto"):
        _probe(address, timeout)
    _init(ray, address, num_cpus, timeout)
    try:
        yield ray
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()


def node_resources(ray: Any) -> list[dict[str, float]]:
    """The total resources of every live node of the cluster."""
    return [dict(node.get("Resources", {})) for node in ray.nodes() if node.get("Alive")]


def check_resources(ray: Any, cpus: float, gpus: float, unit: str = "trial") -> None:
    """Refuse a request no node can ever satisfy (Ray would queue it forever).

    Raises:
        ClusterError: no node has ``cpus`` CPUs and ``gpus`` GPUs.
    """
    nodes = node_resources(ray)
    total_gpus = sum(node.get("GPU", 0.0) for node in nodes)
    if gpus > 0 and total_gpus == 0:
        raise ClusterError(
            f"--gpus-per-{unit} {gpus:g}: the Ray cluster has no GPU "
            f"({len(nodes)} node(s)); use --gpus-per-{unit} 0 or add GPU nodes"
        )
    fits = [n for n in nodes if n.get("CPU", 0.0) >= cpus and n.get("GPU", 0.0) >= gpus]
    if not fits:
        largest = max((n.get("CPU", 0.0) for n in nodes), default=0.0)
        most_gpus = max((n.get("GPU", 0.0) for n in nodes), default=0.0)
        raise ClusterError(
            f"each {unit} asks for {cpus:g} CPU(s) and {gpus:g} GPU(s), but no node of the "
            f"Ray cluster has that many (largest: {largest:g} CPUs, {most_gpus:g} GPUs)"
        )


def unit_slots(ray: Any, cpus: float, gpus: float) -> int:
    """How many units of this size the cluster runs at once (at least 1)."""
    slots = 0
    for node in node_resources(ray):
        fit = int(node.get("CPU", 0.0) // cpus) if cpus > 0 else 0
        if gpus > 0:
            fit = min(fit, int(node.get("GPU", 0.0) // gpus))
        slots += fit
    return max(1, slots)


@contextlib.contextmanager
def backend_session(backend: Backend, unit: str = "trial") -> Iterator[Any]:
    """:func:`ray_session` for a Ray backend (resources checked), nothing for a local one.

    Yields:
        The ``ray`` module, or None for the local backend.
    """
    if not backend.is_ray:
        yield None
        return
    with ray_session(backend.address) as ray:
        check_resources(ray, backend.cpus, backend.gpus, unit)
        yield ray

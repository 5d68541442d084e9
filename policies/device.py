"""The torch device a policy (or a child network) trains on: ``auto``, ``cpu``, ``cuda[:N]``.

``auto`` picks the first CUDA device when torch sees one and the CPU otherwise. An explicit
``cuda`` or ``cuda:N`` that this machine cannot give is refused with a clear message instead
of failing deep inside torch. Environments and RNA folding always stay on the CPU; only the
networks move.
"""

from __future__ import annotations

import re

#: What ``--device`` accepts (``cuda:N`` names one of several GPUs).
DEVICE_CHOICES = "auto|cpu|cuda[:N]"

_PATTERN = re.compile(r"^(auto|cpu|cuda)(?::(\d+))?$")


def check_device(spec: str) -> str:
    """Check the spelling of a device (not whether it exists); return it normalized.

    Raises:
        ValueError: not ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    """
    text = str(spec).strip().lower()
    match = _PATTERN.match(text)
    if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
        raise ValueError(f"--device: expected {DEVICE_CHOICES}, got {spec!r}")
    return text


def cuda_devices() -> int:
    """How many CUDA devices torch can use here (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_device(spec: str) -> str:
    """The concrete torch device for ``spec``: ``cpu``, ``cuda`` or ``cuda:N``.

    Raises:
        ValueError: a bad spelling, or CUDA (device N) asked for where there is none.
    """
    text = check_device(spec)
    available = cuda_devices()
    if text == "auto":
        return "cuda" if available else "cpu"
    if text == "cpu":
        return "cpu"
    index = int(text.partition(":")[2] or 0)
    if available == 0:
        raise ValueError(
            f"--device {text}: torch sees no CUDA device here (use --device auto or cpu; a "
            "CPU-only torch build or a missing driver also causes this)"
        )
    if index >= available:
        raise ValueError(
            f"--device {text}: this machine has {available} CUDA device(s), cuda:0 to "
            f"cuda:{available - 1}"
        )
    return text


def check_gpus(gpus: float, unit: str = "trial") -> None:
    """Refuse ``--gpus-per-UNIT`` on a local machine without that many GPUs.

    Raises:
        ValueError: ``gpus`` is negative, or more than this machine's CUDA devices.
    """
    if gpus < 0:
        raise ValueError(f"--gpus-per-{unit} must be >= 0, got {gpus:g}")
    if gpus > 0:
        available = cuda_devices()
        if gpus > available:
            raise ValueError(
                f"--gpus-per-{unit} {gpus:g}: this machine has {available} CUDA device(s)"
            )

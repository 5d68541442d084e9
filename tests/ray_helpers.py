"""Objectives for the Ray tests: they kill the process that runs them (a lost worker)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from bohb_helpers import quadratic


class KillOnce:
    """Kills its worker process on the first call for each trial seed, then answers.

    The marker files (one per seed) live in ``folder``, so the second attempt, in a new
    worker process, finds the marker and returns the loss.
    """

    def __init__(self, folder: str):
        self.folder = folder

    def __call__(self, config: dict[str, Any], budget: float, seed: int) -> float:
        marker = Path(self.folder) / f"{seed}-{budget:g}"
        if not marker.exists():
            marker.write_text("killed once\n")
            os.kill(os.getpid(), signal.SIGKILL)
        return quadratic(config, budget, seed)


class AlwaysKill:
    """Kills its worker process on every call whose ``x`` is below ``threshold``."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def __call__(self, config: dict[str, Any], budget: float, seed: int) -> float:
        if config["x"] < self.threshold:
            os.kill(os.getpid(), signal.SIGKILL)
        return quadratic(config, budget, seed)

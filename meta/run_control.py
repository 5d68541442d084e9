"""What every training run shares: its budget across resumes, its stop flag, its log folders.

Used by meta-training (:mod:`meta.training`) and by ``autorl train``
(:mod:`meta.ppo_training`). A run's budget is timesteps or seconds of training for the
whole run: a resumed session starts from the timesteps and seconds its checkpoint recorded.
"""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path
from typing import Any


class StopFlag:
    """Turns SIGINT/SIGTERM into a request to stop at the next step (then checkpoint).

    Used as a context manager around training; ``raised`` holds the first signal's number.
    A second signal raises ``KeyboardInterrupt`` at once. Outside the main thread no
    handler can be installed, and signals keep their default behaviour.
    """

    def __init__(self) -> None:
        self.raised: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: no handlers
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.raised is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self.raised = signum


class RunBudget:
    """Timesteps or seconds of training for a whole run, across resumes.

    Args:
        timesteps: Environment steps for the run, or None.
        time_limit: Seconds of training for the run, or None (one of the two is set).
    """

    def __init__(self, timesteps: int | None, time_limit: float | None):
        self.timesteps = timesteps
        self.time_limit = time_limit
        #: Steps and seconds of the earlier sessions (from the resumed checkpoint).
        self.timesteps_before = 0
        self.elapsed_before = 0.0
        self._start = time.monotonic()

    def resume(self, timesteps: int, elapsed: float) -> None:
        """Count the steps and seconds of the earlier sessions."""
        self.timesteps_before, self.elapsed_before = int(timesteps), float(elapsed)

    def start(self) -> None:
        """Start this session's clock (when training begins)."""
        self._start = time.monotonic()

    def elapsed(self) -> float:
        """Seconds of training in the whole run."""
        return self.elapsed_before + time.monotonic() - self._start

    def out_of_time(self) -> bool:
        """Whether the run's time limit is spent."""
        return self.time_limit is not None and self.elapsed() >= self.time_limit

    def remaining_timesteps(self) -> int:
        """Steps left for this session (a huge number under a time limit)."""
        if self.timesteps is None:
            return 2**62
        return self.timesteps - self.timesteps_before

    def fraction(self, timesteps: int) -> float:
        """The fraction of the run's budget spent (0..1) at ``timesteps`` steps."""
        if self.timesteps is not None:
            return min(1.0, timesteps / self.timesteps)
        assert self.time_limit is not None
        return min(1.0, self.elapsed() / self.time_limit)


def session_log_folder(out: Path) -> Path:
    """``OUT/logs/session-K``: a resume logs beside the earlier sessions, never over them."""
    logs = Path(out) / "logs"
    sessions = len(list(logs.glob("session-*"))) if logs.is_dir() else 0
    return logs / f"session-{sessions + 1}"

"""A one-line progress display on stderr: shown only on a terminal and without ``--quiet``."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Rewrite one status line on a terminal, at most a few times a second.

    Args:
        quiet: Show nothing.
        stream: Where to write (default stderr); nothing is shown unless it is a terminal.
        interval: Minimum seconds between redraws.
    """

    def __init__(self, quiet: bool = False, stream: TextIO | None = None, interval: float = 0.2):
        self.stream = stream or sys.stderr
        self.enabled = not quiet and bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self._last = 0.0
        self._width = 0

    def update(self, text: str, force: bool = False) -> None:
        """Show ``text`` as the current status (rate-limited unless ``force``)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)

    def message(self, text: str) -> None:
        """Print a permanent line (above the status line) when enabled."""
        if not self.enabled:
            return
        self.clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def clear(self) -> None:
        """Remove the status line."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.clear()

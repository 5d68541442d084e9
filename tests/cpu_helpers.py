"""CPU-burning helpers shared by the tests that count CPU time (execution, throughput)."""

from __future__ import annotations

import time


def burn(seconds: float) -> float:
    """Spend ``seconds`` of this thread's CPU; the CPU it measured.

    Module-level, so a process executor can pickle it by reference.
    """
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        pass
    return time.thread_time() - start

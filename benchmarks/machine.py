"""The machine a benchmark ran on, and how fast it folded at the time.

Every budget of a design benchmark is wall-clock time, so its figures depend on the speed
of the machine as much as on the code: in session 22, session 16's commit, re-run, took
16-17 s on Rfam-Learn validation targets it had solved in 7-8 s in session 16, on the same
virtual machine, because the machine folded about half as fast that day. A results
directory therefore records how fast its machine folded while it was made.

Each :func:`benchmarks.runner.run_benchmark` call that runs jobs appends a calibration to
``machine.jsonl`` in its results directory before the first job and another after the
last one (none after an interrupted run). A calibration folds the same
:data:`CALIBRATION_FOLDS` random sequences of :data:`CALIBRATION_LENGTH` nt in this process
and records the rate with the host, its CPU model and count and the 1-minute load
average (a load near or above the CPU count before the jobs means something else was
running). The report (:func:`benchmarks.report.report`) copies the calibrations into
``summary.json`` and prints them. With Ray they describe the machine of the calling
process only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from envs.folding import mfe_structure

#: Length (nt) of the calibration's sequences: the README's throughput figures use 100.
CALIBRATION_LENGTH = 100
#: Folds per calibration (about 0.2-0.4 s on the 2-core development machine).
CALIBRATION_FOLDS = 24
#: The file in a results directory that holds one calibration per line.
MACHINE_FILE = "machine.jsonl"


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one), or ``""``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def random_sequences(length: int, count: int, rng: np.random.Generator) -> list[str]:
    """Uniformly random RNA sequences."""
    letters = np.frombuffer(b"ACGU", dtype=np.uint8)
    return [letters[rng.integers(4, size=length)].tobytes().decode() for _ in range(count)]


def calibrate(phase: str, backend: str = "local") -> dict[str, Any]:
    """Measure this process's fold rate now, with what describes the machine.

    Args:
        phase: ``"before"`` or ``"after"`` (the jobs).
        backend: Where the jobs run (``"local"`` or ``"ray"``).

    Returns:
        ``phase``, ``time`` (UTC, ISO 8601), ``host``, ``cpu``, ``cpus``, ``load_1min``
        (None where the platform has no load average), ``backend`` and
        ``folds_per_second`` (``RNA.fold`` of :data:`CALIBRATION_LENGTH` nt, one process).
    """
    # The same sequences every time: only the machine varies.
    sequences = random_sequences(CALIBRATION_LENGTH, CALIBRATION_FOLDS, np.random.default_rng(0))
    mfe_structure(sequences[0])  # the energy parameters are loaded outside the timing
    began = time.perf_counter()
    for sequence in sequences:
        mfe_structure(sequence)
    seconds = time.perf_counter() - began
    try:
        load: float | None = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        load = None
    return {
        "phase": phase,
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "load_1min": load,
        "backend": backend,
        "folds_per_second": round(CALIBRATION_FOLDS / seconds, 1),
    }


def record_calibration(out_dir: str | Path, phase: str, backend: str = "local") -> dict[str, Any]:
    """Calibrate (:func:`calibrate`) and append the result to ``out_dir/machine.jsonl``."""
    entry = calibrate(phase, backend)
    with open(Path(out_dir) / MACHINE_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
    return entry


def read_calibrations(out_dir: str | Path) -> list[dict[str, Any]]:
    """The calibrations recorded in ``out_dir`` (oldest first; none without the file).

    A line that does not parse (a run killed while writing it) is skipped.
    """
    path = Path(out_dir) / MACHINE_FILE
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "folds_per_second" in entry:
            entries.append(entry)
    return entries


def describe(entry: dict[str, Any]) -> str:
    """One calibration as a line of the report."""
    load = entry.get("load_1min")
    return (
        f"{entry.get('time', '?')} {entry.get('phase', '?')} the jobs: "
        f"{entry['folds_per_second']:g} folds/s at {CALIBRATION_LENGTH} nt (one process); "
        f"load {load if load is not None else 'n/a'} on {entry.get('cpus', '?')} CPUs "
        f"({entry.get('cpu') or 'unknown CPU'}, host {entry.get('host') or '?'})"
    )

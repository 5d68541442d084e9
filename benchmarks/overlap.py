"""Keeping benchmark targets out of training data.

A policy that was trained on a benchmark's targets says nothing about that benchmark, so
every training file is checked against the registered datasets (:data:`DATASETS`) whose
files can be found where ``autorl benchmark`` looks for them: ``--data-dir``,
``$AUTORL_DATA`` and the user cache (:func:`benchmarks.datasets.search_dirs`). A dataset
with no file there is skipped. Every copy found is read, including one whose hash differs
from the canonical file (it is still that benchmark's targets, so it still excludes them);
an unreadable copy is skipped with a warning. Structures are compared exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.datasets import DATASETS, file_sha256, search_dirs
from envs.dot_bracket import Target, read_targets

logger = logging.getLogger(__name__)

#: Overlapping targets listed in the error message; the rest are counted.
SHOWN = 10


@dataclass(frozen=True)
class BenchmarkFile:
    """One benchmark file found on this machine.

    Attributes:
        name: The registered dataset name.
        path: The file read.
        targets: Its targets.
        canonical: Whether the file has the registered sha256.
    """

    name: str
    path: Path
    targets: tuple[Target, ...]
    canonical: bool


def find_benchmark_files(data_dir: str | Path | None = None) -> list[BenchmarkFile]:
    """Read every registered dataset file found in the data directories.

    Args:
        data_dir: The ``--data-dir`` argument, if given (searched first).

    Returns:
        The files found, in registry order; datasets without a file are left out.
    """
    found: list[BenchmarkFile] = []
    for spec in DATASETS.values():
        seen: set[Path] = set()
        for directory in search_dirs(data_dir):
            path = directory / spec.filename
            if not path.is_file() or path.resolve() in seen:
                continue
            seen.add(path.resolve())
            try:
                targets = tuple(read_targets(path))
            except ValueError as error:
                logger.warning("benchmark file %s skipped in the overlap check: %s", path, error)
                continue
            canonical = file_sha256(path) == spec.sha256
            if not canonical:
                logger.warning(
                    "%s differs from the canonical %s file; checked anyway", path, spec.name
                )
            found.append(BenchmarkFile(spec.name, path, targets, canonical))
    return found


def benchmark_structures(data_dir: str | Path | None = None) -> dict[str, list[str]]:
    """Map every benchmark structure found to the ``dataset:id`` entries that hold it.

    Args:
        data_dir: The ``--data-dir`` argument, if given.

    Returns:
        Structure -> e.g. ``["eterna100-v1:5", "eterna100-v2:5"]``.
    """
    return _index(find_benchmark_files(data_dir))


def _index(benchmarks: Sequence[BenchmarkFile]) -> dict[str, list[str]]:
    structures: dict[str, list[str]] = {}
    for benchmark in benchmarks:
        for target in benchmark.targets:
            entries = structures.setdefault(target.structure, [])
            entry = f"{benchmark.name}:{target.id}"
            if entry not in entries:  # the same file in two data directories
                entries.append(entry)
    return structures


def check_no_overlap(
    targets: Sequence[Target],
    data_dir: str | Path | None = None,
    source: str = "training targets",
) -> list[str]:
    """Refuse training targets that are benchmark targets.

    Args:
        targets: The training targets.
        data_dir: The ``--data-dir`` argument, if given.
        source: What the targets are (e.g. the file name), used in the message.

    Returns:
        The names of the datasets checked (those whose file was found), in registry order.

    Raises:
        ValueError: some targets are benchmark targets; the message lists the first
            :data:`SHOWN` as ``training-id = dataset:id``.
    """
    benchmarks = find_benchmark_files(data_dir)
    known = _index(benchmarks)
    clashes = [(t.id, known[t.structure]) for t in targets if t.structure in known]
    if clashes:
        shown = ", ".join(f"{tid} = {_entries(where)}" for tid, where in clashes[:SHOWN])
        more = f" and {len(clashes) - SHOWN} more" if len(clashes) > SHOWN else ""
        raise ValueError(
            f"{source}: {len(clashes)} of {len(targets)} targets are benchmark targets and must "
            f"not be trained on: {shown}{more}; remove them"
        )
    return list(dict.fromkeys(benchmark.name for benchmark in benchmarks))


def _entries(where: Sequence[str]) -> str:
    also = f" (also {', '.join(where[1:])})" if len(where) > 1 else ""
    return where[0] + also

"""``results.csv``: the benchmark runner's append-only record of finished jobs.

Every row is written whole, in one write, flushed and fsynced, so a run killed at any
moment leaves only complete rows (a cut-off last line is ended before the next append).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from meta.provenance import package_versions

#: Columns of results.csv, in order.
RESULT_FIELDS = (
    "dataset",
    "target_id",
    "length",
    "method",
    "run",
    "seed",
    "time_limit",
    "solved",
    "time_to_solve",
    "best_distance",
    "sequence",
    "structure",
    "status",
    "elapsed",
    "error",
    "config",
    "model",
    "autorl",
    "viennarna",
    "torch",
    "stable_baselines3",
    "python",
)

#: The columns of autorl 0.1 files written before the ``model`` column (read, never written).
_BEFORE_MODEL = tuple(name for name in RESULT_FIELDS if name != "model")

#: results.csv column -> package whose version it records.
VERSION_COLUMNS = {
    "autorl": "autorl",
    "viennarna": "viennarna",
    "torch": "torch",
    "stable_baselines3": "stable-baselines3",
    "python": "python",
}


def version_columns() -> dict[str, str]:
    """The package versions recorded in every row."""
    versions = package_versions()
    return {column: versions[name] for column, name in VERSION_COLUMNS.items()}


def read_results(path: str | Path) -> list[dict[str, str]]:
    """Read results.csv (an absent file has no rows).

    Raises:
        ValueError: the file's header is not the one this version writes.
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return []
    with open(path, encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        columns = tuple(reader.fieldnames or ())
        if columns not in (RESULT_FIELDS, _BEFORE_MODEL):
            raise ValueError(
                f"{path}: unexpected columns {reader.fieldnames}; expected {list(RESULT_FIELDS)}"
            )
        rows = [row for row in reader if None not in row.values()]
    if columns == _BEFORE_MODEL:  # written before the meta methods existed: no checkpoint
        for row in rows:
            row["model"] = ""
    return rows


def append_result(path: str | Path, row: dict[str, Any]) -> None:
    """Append one row (and the header to a new file) in a single write, flushed to disk.

    A last line cut off by a crash is ended first, so it cannot swallow the new row.
    """
    path = Path(path)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_FIELDS, lineterminator="\n")
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        writer.writeheader()
    else:
        with open(path, "rb") as file:
            file.seek(size - 1)
            if file.read(1) != b"\n":
                buffer.write("\n")
    writer.writerow(row)
    with open(path, "a", encoding="utf-8", newline="") as file:
        file.write(buffer.getvalue())
        file.flush()
        os.fsync(file.fileno())

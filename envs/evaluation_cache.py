"""Evaluations remembered by key, in memory and in a JSON-lines file that survives a restart.

An expensive evaluation (a child network's training) that is deterministic for its key
(architecture, epochs, dataset, seed ...) is paid for once: :class:`EvaluationCache` maps a
key string to the evaluation's JSON record. Each new record is appended to the file as one
line ``{"key": ..., "record": ...}``, flushed and fsynced before :meth:`put` returns, so a
process killed afterwards keeps it; a last line without a line end (a write the kill cut
short) is cut when the file is opened. Appends of single lines are atomic on local file
systems, so several processes may share one file; each reads the others' records when it
opens the file (:meth:`reload` reads them again).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


class EvaluationCache:
    """Key -> JSON record, in memory and (with ``path``) in a JSON-lines file.

    Args:
        path: The file (created with its directory on the first :meth:`put`); None: in
            memory only.

    Raises:
        ValueError: (reading the file) a complete line that is not a cache entry; the
            message names the file and line.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        self._records: dict[str, dict[str, Any]] = {}
        if self.path is not None:
            cut_partial_line(self.path)  # a write a killed process left unfinished
        self.reload()

    def reload(self) -> None:
        """Read the file again (records other processes appended since)."""
        if self.path is None or not self.path.is_file():
            return
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        for number, line in enumerate(complete.decode().splitlines(), start=1):
            if not line.strip():
                continue
            key, record = _entry(line, f"{self.path}:{number}")
            self._records[key] = record

    def get(self, key: str) -> dict[str, Any] | None:
        """The record of ``key`` (a copy), or None."""
        record = self._records.get(key)
        return None if record is None else dict(record)

    def put(self, key: str, record: Mapping[str, Any]) -> None:
        """Remember ``record`` under ``key`` (appended to the file; a known key is kept).

        Raises:
            ValueError: the record cannot be written as JSON.
        """
        if key in self._records:
            return
        line = json.dumps({"key": key, "record": dict(record)}, sort_keys=True)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as file:
                file.write(line + "\n")
                file.flush()
                os.fsync(file.fileno())
        self._records[key] = json.loads(line)["record"]

    def __contains__(self, key: object) -> bool:
        return key in self._records

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)


def _entry(line: str, where: str) -> tuple[str, dict[str, Any]]:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: not a JSON line ({error.msg})") from None
    if not (
        isinstance(entry, dict)
        and isinstance(entry.get("key"), str)
        and isinstance(entry.get("record"), dict)
    ):
        raise ValueError(f"{where}: a cache line is {{'key': str, 'record': object}}")
    return entry["key"], entry["record"]


def cut_partial_line(path: str | Path) -> None:
    """Cut a last line without a line end (a line a killed process did not finish).

    The JSON-lines writers of every layer share it (:mod:`meta.files` re-exports it).
    """
    path = Path(path)
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as file:
            file.truncate(data.rfind(b"\n") + 1)


__all__ = ["EvaluationCache", "cut_partial_line"]

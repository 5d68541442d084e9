"""Writing result files so that a crash never leaves a half-written one."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from envs.evaluation_cache import cut_partial_line


def write_text_atomic(text: str, path: str | Path) -> None:
    """Write ``text`` (UTF-8) via a temporary file in the same folder and a rename.

    The file is fsynced before the rename, so readers see either the old file or the
    whole new one, and a crash never leaves a half-written file behind.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_json_atomic(data: Any, path: str | Path) -> None:
    """Write ``data`` as indented JSON atomically (see :func:`write_text_atomic`).

    Values JSON cannot represent are written with ``str``.
    """
    write_text_atomic(json.dumps(data, indent=2, default=str) + "\n", path)


def append_json_line(data: Any, path: str | Path) -> None:
    """Append ``data`` as one JSON line, flushed and fsynced before returning.

    A process killed afterwards keeps the line; a kill during the write leaves a last line
    without a line end, which :func:`read_json_lines` cuts.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as file:
        file.write(json.dumps(data, sort_keys=True, default=str) + "\n")
        file.flush()
        os.fsync(file.fileno())


def read_json_lines(path: str | Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file; a last line without a line end is cut off.

    Raises:
        ValueError: a complete line that is not a JSON object (names the file and line).
    """
    path = Path(path)
    if not path.is_file():
        return []
    cut_partial_line(path)
    data = path.read_bytes()
    rows = []
    for number, line in enumerate(data.decode().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not a JSON line ({error.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{number}: expected a JSON object")
        rows.append(row)
    return rows


def file_sha256(path: str | Path) -> str:
    """The hex sha256 of a file's bytes (read in blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


__all__ = [
    "append_json_line",
    "cut_partial_line",
    "file_sha256",
    "read_json_lines",
    "write_json_atomic",
    "write_text_atomic",
]

"""Writing result files so that a crash never leaves a half-written one."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


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


def file_sha256(path: str | Path) -> str:
    """The hex sha256 of a file's bytes (read in blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()

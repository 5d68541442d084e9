"""Writing result files so that a crash never leaves a half-written one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json_atomic(data: Any, path: str | Path) -> None:
    """Write ``data`` as indented JSON via a temporary file in the same folder and a rename.

    Values JSON cannot represent are written with ``str``. The file is fsynced before the
    rename, so readers see either the old file or the whole new one.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=2, default=str)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)

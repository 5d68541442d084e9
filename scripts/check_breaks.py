"""Break features on purpose and check that their tests fail.

A dev harness, not a test: every entry of a breaks file (JSON, a list) names a file, a text
in it, what replaces the text and the test that must then fail. Each break is applied
alone, the test run, and the file restored. Prints one line per break.

Usage (from the repository's root):
``python scripts/check_breaks.py docs/results/i14ax/dev/breaks.json [NAME...]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def check(entry: dict[str, str]) -> str:
    """Apply one break, run its test, restore the file; the verdict."""
    path = Path(entry["file"])
    text = path.read_text()
    if text.count(entry["old"]) != 1:
        return "the text to break is not found once"
    path.write_text(text.replace(entry["old"], entry["new"]))
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", entry["test"]]
    try:
        failed = subprocess.run(command, capture_output=True, timeout=300).returncode != 0
    except subprocess.TimeoutExpired:
        failed = True
    finally:
        path.write_text(text)
    return "the test fails (good)" if failed else "the test PASSES (the break went unnoticed)"


def main(arguments: list[str]) -> int:
    """Check the breaks of the file named first (all of them, or those named after it)."""
    if not arguments:
        print(__doc__, file=sys.stderr)
        return 2
    breaks, names = Path(arguments[0]), arguments[1:]
    for entry in json.loads(breaks.read_text()):
        if not names or entry["name"] in names:
            print(entry["name"], check(entry), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""How many Eterna100-v2 puzzles the first 1, 3 or 10 targeted starts solve (MFE folds only).

Usage: ``PYTHONPATH=. python docs/results/i14as/dev/start_probe.py`` (``$AUTORL_DATA`` names
the data folder). Each puzzle's starts are drawn as the ensemble stage draws them (seed 1).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from envs.folding import mfe_structure
from envs.targeted_start import TargetedStarts


def main() -> None:
    """Print, per number of starts, the puzzles solved and the seconds spent folding."""
    path = Path(os.environ.get("AUTORL_DATA", "../shared/data")) / "eterna100_v2.txt"
    targets = [line.split()[1] for line in path.read_text().splitlines() if line.strip()]
    for tries in (1, 3, 10):
        solved, seconds = 0, 0.0
        for structure in targets:
            starts, rng = TargetedStarts(structure), np.random.default_rng(1)
            for _ in range(tries):
                sequence = starts.draw(rng)
                began = time.monotonic()
                hit = mfe_structure(sequence) == structure
                seconds += time.monotonic() - began
                if hit:
                    solved += 1
                    break
        print(f"{tries} starts: {solved}/{len(targets)} solved, {seconds:.2f} s of folds")


if __name__ == "__main__":
    main()

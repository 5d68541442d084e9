"""Side harness (not a user command): where the ensemble stage's focused repairs go.

Runs the stage alone (the design loop's stage settings, as ``benchmarks.ensemble_stage``)
on one target for SECONDS with SEED, and prints the time its repairs and hierarchical
starts took and, for every piece repaired, how often and whether it can close alone.

Usage: ``python docs/results/i14be/dev/repair_log.py TARGET_FILE SECONDS SEED`` (the
file's last field is the structure).
"""

import json
import sys
import time
from pathlib import Path

import envs.ensemble_search as stage
from benchmarks.ensemble_stage import StageSettings, build_search
from envs.decomposition import closes_alone

target = Path(sys.argv[1]).read_text().split()[-1]
seconds, seed = float(sys.argv[2]), int(sys.argv[3])
pieces: dict[tuple[int, int], int] = {}
spent = {"repair": 0.0, "hierarchical starts": 0.0}
choose, advance = stage.EnsembleSearch._repair_piece, stage.EnsembleSearch._advance


def logged_choice(search):
    """The stage's choice of a piece, counted."""
    piece = choose(search)
    if piece is not None and search is watched:
        pieces[piece] = pieces.get(piece, 0) + 1
    return piece


def timed_advance(search, work, deadline):
    """The stage's pieces work, timed."""
    began = time.monotonic()
    result = advance(search, work, deadline)
    if search is watched:
        what = "repair" if work is search.repair else "hierarchical starts"
        spent[what] += time.monotonic() - began
    return result


stage.EnsembleSearch._repair_piece = logged_choice
stage.EnsembleSearch._advance = timed_advance
settings = StageSettings(
    seconds=seconds, decompose=0.3, repair=1.0, rivals=0.5, neighbourhood=16384,
    boost=True, mfe_length=200, grafts=0.2, restart=100,
)  # fmt: skip
watched = build_search(target, settings, seed)
deadline = time.monotonic() + seconds
while time.monotonic() < deadline and not watched.solved:
    watched.run(deadline)
print(json.dumps({
    "solved": watched.solved, "distance": watched.best.distance,
    "evaluations": watched.evaluations, "seconds": {k: round(v, 1) for k, v in spent.items()},
}))  # fmt: skip
for (i, j), count in pieces.items():
    print(f"piece {i}..{j} ({j - i + 1} nt): {count} repairs, closes alone: "
          f"{closes_alone(target[i : j + 1])}")  # fmt: skip

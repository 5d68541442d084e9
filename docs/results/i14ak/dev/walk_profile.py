"""Where the ensemble stage's time goes on one target of a file (session 47).

Usage: python docs/results/i14ak/dev/walk_profile.py TARGETS ID

Runs the stage (the design loop's settings, restarts on) for 3 s, then 6 s under
cProfile, and prints the walks' and evaluations' counts and seconds with the profile.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time

from benchmarks.ensemble_stage import StageSettings, build_search


def main() -> None:
    """Profile the stage on the target ``sys.argv[2]`` of the file ``sys.argv[1]``."""
    path, wanted = sys.argv[1], sys.argv[2]
    with open(path) as lines:
        targets = dict(line.split()[:2] for line in lines if line.strip() and line[0] != "#")
    settings = StageSettings(
        9.0,  # the 3 + 6 s run below
        rivals=0.5,
        repair=1.0,
        neighbourhood=16384,
        grafts=0.2,
        boost=True,
        restart=100,
    )
    search = build_search(targets[wanted], settings, 5)
    search.run(time.monotonic() + 3)
    evaluations, walked = search.evaluations, search.walk_seconds
    profile = cProfile.Profile()
    profile.enable()
    search.run(time.monotonic() + 6)
    profile.disable()
    print(
        f"6 s: {search.evaluations - evaluations} evaluations, "
        f"{search.walk_seconds - walked:.2f} s of walks"
    )
    pstats.Stats(profile).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()

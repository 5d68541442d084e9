"""When autorl's design loop reports its first designs, as the benchmark runner runs it.

Usage: ``PYTHONPATH=. python docs/results/i14as/dev/first_designs.py ID [ID ...]`` (Eterna100-v2
target ids; ``$AUTORL_DATA`` names the data folder). Prints each target's solve time and
its first improvements as (seconds, distance, stage), for a 10-s limit and seed 1.

As committed in session 55 this script passed no stage options to the runner's solver, so
it ran the policy alone (the shipped configuration's 0s), not as the runner runs it. It
now runs ``docs/results/i14at/dev/timeline.py`` (session 56), which passes the stage
options ``autorl benchmark`` records.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "i14at" / "dev"))

from timeline import main  # noqa: E402  (a dev script beside another results folder)

if __name__ == "__main__":
    main("eterna100_v2.txt", 10.0, 1, sys.argv[1:])

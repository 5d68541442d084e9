"""Session 36's probe: mutations that write a loop's boost letter, stage alone.

Session 35 wrote Eterna's loop boosts into the ensemble stage's targeted starts only; a
mutation of a boosted site draws among its other letters at random. With
``boost-mutations.patch`` applied (it was measured, not merged, so this probe fails
without it) such a mutation writes the boost letter with probability
``envs.ensemble_search.BOOST_SHARE``, on the whole target and in the pieces searched on
their own. ``stage --share S`` runs ``benchmarks.ensemble_stage`` with that share set
to ``S``; ``--share 0`` is session 35's stage (the pieces make no targeted starts, so a
share of 0 leaves them as they were).

Usage (from the project's root)::

    python docs/results/i14aa/boost_mutation_probe.py stage --share 0 -- \
        docs/results/i14n/dev/hard110.txt --seconds 10 --repair 1 --rivals 0.5 \
        --neighbourhood 16384 --decompose 0.3 --boost --seed 11 > h110-share0-s11.json
"""

from __future__ import annotations

import argparse
import sys

from benchmarks import ensemble_stage
from envs import ensemble_search as stage


def main(argv: list[str] | None = None) -> int:
    """Run ``benchmarks.ensemble_stage`` with the boost share given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("stage")
    run.add_argument("--share", type=float, default=stage.BOOST_SHARE)
    run.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if not 0.0 <= args.share <= 1.0:
        parser.error("--share must be in [0, 1]")
    stage.BOOST_SHARE = args.share
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    return ensemble_stage.main(rest)


if __name__ == "__main__":
    sys.exit(main())

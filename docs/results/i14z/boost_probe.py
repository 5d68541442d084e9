"""Session 35's probe: Eterna's loop "boosts" in the ensemble stage's targeted starts.

SAMFEO's targeted start (today's) writes G-C or C-G on every pair and A on every unpaired
site. Eterna players "boost" loops: a G on the 5' side and an A on the 3' side of a
loop's closing pair (its first mismatch), which the Turner 2004 parameters reward by
0.8-1.2 kcal/mol against A-A in hairpins of at least 4 nt and in interior loops whose
both sides have at least 2 nt. ``stage --variant V`` runs ``benchmarks.ensemble_stage``
with the targeted starts replaced:

- ``base``: today's starts.
- ``boost``: every start boosted: hairpins of >= 4 nt get G after the closing pair's 5'
  base and A before its 3' base; interior loops with >= 2 nt on both sides get the same
  at both closing pairs (seen from inside the loop), where the IUPAC codes allow.
- ``boostgg``: ``boost``, and G on both sides of every 1x1 interior loop.
- ``half``: every other start boosted, starting with the first.

Usage (from the project's root)::

    python docs/results/i14z/boost_probe.py stage --variant boost -- \
        docs/results/i14n/dev/hard110.txt --seconds 10 --repair 1 --rivals 0.5 \
        --neighbourhood 16384 --decompose 0.3 --seed 11 > h110-boost-s11.json
"""

from __future__ import annotations

import argparse
import sys

from benchmarks import ensemble_stage
from envs import ensemble_search as stage
from envs.dot_bracket import pair_table
from envs.loop_boosts import boost_letters


def boost_sites(target: str, gg: bool = False) -> dict[int, str]:
    """The sites a boost writes and their letters (G 5', A 3' of each boosted mismatch).

    :func:`envs.loop_boosts.boost_letters` (which includes the 1x1 loops' G-G); without
    ``gg`` the 1x1 loops' sites are dropped: they alone have paired neighbours on both
    sides (a G-A boost's sites neighbour another unpaired site of their loop).
    """
    letters = boost_letters(target)
    if gg:
        return letters
    partners = pair_table(target)
    return {s: c for s, c in letters.items() if partners[s - 1] < 0 or partners[s + 1] < 0}


def _boosted(search: stage.EnsembleSearch, original, gg: bool = False) -> str:
    chars = list(original(search))
    for site, letter in boost_sites(search.target, gg).items():
        if letter in search.options[search.unit_of[site]]:
            chars[site] = letter
    return "".join(chars)


def apply(variant: str) -> None:
    """Replace :meth:`EnsembleSearch.targeted_start` by ``variant``."""
    original = stage.EnsembleSearch.targeted_start
    if variant == "base":
        return
    if variant == "boost":
        stage.EnsembleSearch.targeted_start = lambda s: _boosted(s, original)
    elif variant == "boostgg":
        stage.EnsembleSearch.targeted_start = lambda s: _boosted(s, original, gg=True)
    elif variant == "half":

        def half(search: stage.EnsembleSearch) -> str:
            search._boost_turn = not getattr(search, "_boost_turn", False)
            return _boosted(search, original) if search._boost_turn else original(search)

        stage.EnsembleSearch.targeted_start = half
    else:
        raise SystemExit(f"unknown variant {variant!r}")


def main(argv: list[str] | None = None) -> int:
    """Run ``benchmarks.ensemble_stage`` with the variant's starts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("stage")
    run.add_argument("--variant", default="base")
    run.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    apply(args.variant)
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    return ensemble_stage.main(rest)


if __name__ == "__main__":
    sys.exit(main())

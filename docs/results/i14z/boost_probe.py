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


def boost_sites(target: str, gg: bool = False) -> dict[int, str]:
    """The sites a boost writes and their letters (G 5', A 3' of each boosted mismatch).

    With ``gg``, a 1x1 interior loop gets G on both sides (2.3 kcal/mol below A-A).
    """
    partners = pair_table(target)
    letters: dict[int, str] = {}
    for i, j in enumerate(partners):
        j = int(j)
        if j <= i:
            continue
        inside = [k for k in range(i + 1, j) if partners[k] >= 0]
        if not inside:  # hairpin
            if j - i - 1 >= 4:
                letters[i + 1], letters[j - 1] = "G", "A"
            continue
        k = inside[0]
        l = int(partners[k])  # noqa: E741
        if any(partners[m] >= 0 for m in range(l + 1, j)):
            continue  # a multiloop
        left, right = k - i - 1, j - l - 1
        if left >= 2 and right >= 2:  # interior loop: both closing pairs' mismatches
            letters[i + 1], letters[j - 1] = "G", "A"
            letters[l + 1], letters[k - 1] = "G", "A"
        elif gg and left == 1 and right == 1:
            letters[i + 1], letters[j - 1] = "G", "G"
    return letters


def _boosted(search: stage.EnsembleSearch, original, gg: bool = False) -> str:
    chars = list(original(search))
    allowed = {
        unit[0]: options
        for unit, options in zip(search.units, search.options)
        if unit[1] < 0  # an unpaired site's unit is (site, -1)
    }
    for site, letter in boost_sites(search.target, gg).items():
        if letter in allowed.get(site, ()):
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

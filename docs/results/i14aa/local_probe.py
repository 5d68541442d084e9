"""Session 36's probe: targeted starts designed against the target's local competitors.

A targeted start (G-C or C-G on every pair, A on every unpaired site, Eterna's loop
boosts) is written letter by letter without looking at what the target could turn into.
Here each start is then improved against the target's *local competitors*: the target
with one pair opened, a short helix opened, or one pair end slid onto a neighbour
(:func:`envs.designability._local_competitors`, the set the designability check proves
obstacles with). For a sequence, ``g_C = E(target) - E(C)`` depends only on the units of
the loops the two structures do not share (:func:`envs.neighbourhood.neighbourhood_units`),
so a coordinate descent visits every unit in a random order, tries each of its options
and keeps the one that minimizes ``sum_C exp(g_C / kT)`` over the competitors touching it
(the target's local Boltzmann odds against them), re-evaluating only those, for
:data:`SWEEPS` sweeps or until no unit changes. ``stage --variant local`` runs
``benchmarks.ensemble_stage`` with the starts replaced; ``base`` leaves them.

Usage (from the project's root)::

    python docs/results/i14aa/local_probe.py stage --variant local -- \
        docs/results/i14n/dev/hard110.txt --seconds 10 --repair 1 --rivals 0.5 \
        --neighbourhood 16384 --decompose 0.3 --boost --seed 11 > h110-local-s11.json
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict

import numpy as np

from benchmarks import ensemble_stage
from envs import ensemble_search as stage
from envs.constraints import assign, unit_value
from envs.designability import _local_competitors
from envs.folding import structure_energies
from envs.neighbourhood import neighbourhood_units

#: kcal/mol at 37 C.
KT = 0.61632
#: Gaps above this (kcal/mol) count as this (exp overflow).
GAP_CAP = 30.0
SWEEPS = 2


def _odds(gaps: np.ndarray) -> float:
    return float(np.exp(np.minimum(gaps, GAP_CAP) / KT).sum())


def local_design(search: stage.EnsembleSearch, start: str, sweeps: int = SWEEPS) -> str:
    """``start`` improved unit by unit against the target's local competitors."""
    target = search.target
    competitors = list(dict.fromkeys(c for _, c in _local_competitors(target)))
    touching: dict[int, list[int]] = defaultdict(list)
    for index, competitor in enumerate(competitors):
        for unit in neighbourhood_units(target, competitor, search.options, search.unit_of):
            touching[unit].append(index)
    if not touching:
        return start
    chars = list(start)
    energies = structure_energies(start, [target, *competitors], search.energy)
    gaps = np.array([energies[0] - e for e in energies[1:]])
    units = sorted(touching)
    for _ in range(sweeps):
        changed = False
        for k in search.rng.permutation(units):
            k = int(k)
            which = touching[k]
            rivals = [competitors[i] for i in which]
            current = unit_value(chars, search.units[k])
            best, best_odds, best_gaps = current, _odds(gaps[which]), None
            for option in search.options[k]:
                if option == current:
                    continue
                assign(chars, search.units[k], option)
                e = structure_energies("".join(chars), [target, *rivals], search.energy)
                trial = np.array([e[0] - x for x in e[1:]])
                odds = _odds(trial)
                if odds < best_odds - 1e-12 and math.isfinite(e[0]):
                    best, best_odds, best_gaps = option, odds, trial
            assign(chars, search.units[k], best)
            if best_gaps is not None:
                gaps[which] = best_gaps
                changed = True
        if not changed:
            break
    return "".join(chars)


def apply(variant: str) -> None:
    """Replace :meth:`EnsembleSearch.targeted_start` by ``variant``."""
    if variant == "base":
        return
    original = stage.EnsembleSearch.targeted_start
    if variant == "local":
        stage.EnsembleSearch.targeted_start = lambda s: local_design(s, original(s))
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

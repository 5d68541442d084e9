"""Prototype (session 45): constraint generation from session 43's final near-misses.

Usage: S=SEED python prototype.py RINGS SECONDS RUN_DIR... (PYTHONPATH at the project).
For each distance-2 miss of <= 220 nt in a run's results.csv, anneal the units of the
competitor's unshared term sites (plus RINGS rings of target loop terms) on
E(target) - min E(known competitors), fold when below all, add each wrong MFE structure.
"""

import csv
import math
import os
import sys
import time

import numpy as np
import RNA

from envs.constraints import assign, unit_index, unit_options, unit_value
from envs.designability import loop_terms, term_sites
from envs.folding import structure_energies


def ring(target: str, sites: set[int]) -> set[int]:
    """``sites`` and every site of a target loop term touching them."""
    out = set(sites)
    for term in loop_terms(target).values():
        if term & sites:
            out |= term
    return out


def solve(target: str, seq: str, mfe: str, seconds: float, rings: int, rng) -> dict:
    """Anneal from ``seq`` (folding into ``mfe``) for ``seconds``; what happened."""
    units, options = unit_options(target, None, True)
    unit_of = unit_index(units, len(target))
    sites = set(term_sites(target, mfe))
    for _ in range(rings):
        sites = ring(target, sites)
    ks = sorted({int(unit_of[s]) for s in sites if len(options[int(unit_of[s])]) > 1})
    known, seen, folds, began = [mfe], set(), 0, time.time()
    cur = list(seq)

    def score(chars: list[str]) -> float:
        energies = structure_energies("".join(chars), [target, *known])
        return math.inf if math.isinf(energies[0]) else energies[0] - min(energies[1:])

    s, temperature = score(cur), 1.0
    while time.time() - began < seconds:
        for _ in range(200):
            k = ks[rng.integers(len(ks))]
            old = unit_value(cur, units[k])
            new = options[k][rng.integers(len(options[k]))]
            if new == old:
                continue
            assign(cur, units[k], new)
            s2 = score(cur)
            if s2 <= s or rng.random() < math.exp(-(s2 - s) / temperature):
                s = s2
            else:
                assign(cur, units[k], old)
        temperature = max(0.05, temperature * 0.97)
        design = "".join(cur)
        if s < 0 and design not in seen:
            seen.add(design)
            folds += 1
            structure, _ = RNA.fold(design)
            if structure == target:
                return {"solved": True, "t": round(time.time() - began, 1), "folds": folds}
            if structure not in known:
                known.append(structure)
                s = score(cur)
    return {"solved": False, "folds": folds, "K": len(known), "units": len(ks)}


def main() -> None:
    """Run every qualifying miss of the runs named on the command line."""
    rings, seconds = int(sys.argv[1]), float(sys.argv[2])
    for run in sys.argv[3:]:
        with open(run + "/results.csv") as handle:
            rows = list(csv.DictReader(handle))
        for r in rows:
            if r["solved"] == "1" or int(r["length"]) > 220 or r["best_distance"] != "2":
                continue
            rng = np.random.default_rng(int(os.environ.get("S", "0")))
            outcome = solve(r["target"], r["sequence"], r["mfe_structure"], seconds, rings, rng)
            print(run, r["target_id"], r["length"], outcome, flush=True)


if __name__ == "__main__":
    main()

"""Prototype: constraint generation whose oracle adds suboptimal structures, not one MFE.

Usage: S=SEED python subopt_proto.py DELTA CAP SECONDS RUN_DIR...
DELTA 0 is session 45's prototype (rings 1): each fold adds its MFE structure. DELTA > 0
(dcal/mol) adds up to CAP non-target structures within DELTA of each fold's MFE (ViennaRNA
subopt; about one MFE fold's cost at 100 nt), and seeds the set the same way.
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


def oracle(design: str, target: str, delta: int, cap: int) -> tuple[str, list[str]]:
    """The design's MFE structure and the competitors to add."""
    if delta <= 0:
        structure, _ = RNA.fold(design)
        return structure, [structure]
    md = RNA.md()
    md.uniq_ML = 1
    compound = RNA.fold_compound(design, md)
    solutions = compound.subopt(delta, sorted=1)
    structures = [s.structure for s in solutions]
    best = min(solutions, key=lambda s: s.energy).structure
    return best, [s for s in structures if s != target][:cap]


def solve(target, seq, mfe, seconds, delta, cap, rng) -> dict:
    """Anneal from ``seq`` for ``seconds``; what happened."""
    units, options = unit_options(target, None, True)
    unit_of = unit_index(units, len(target))
    grow = os.environ.get("GROW") == "1"
    began = time.time()
    _, known = oracle(seq, target, delta, cap)
    if mfe not in known:
        known.insert(0, mfe)

    def searched(structures):
        sites = set(term_sites(target, mfe))
        if grow:
            for c in structures:
                sites |= set(term_sites(target, c))
        sites = ring(target, sites)
        return sorted({int(unit_of[s]) for s in sites if len(options[int(unit_of[s])]) > 1})

    ks = searched(known)
    seen, folds = set(), 0
    cur = list(seq)

    def score(chars):
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
            structure, extra = oracle(design, target, delta, cap)
            if structure == target:
                return {"solved": True, "t": round(time.time() - began, 1), "folds": folds}
            added = [x for x in extra if x not in known]
            known.extend(added)
            if grow and added:
                ks = searched(known)
            if len(known) > 256:
                del known[1 : len(known) - 256]
            s = score(cur)
    return {"solved": False, "folds": folds, "K": len(known), "units": len(ks)}


def main() -> None:
    """Run every qualifying miss of the runs named on the command line."""
    delta, cap, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    solved = total = 0
    for run in sys.argv[4:]:
        with open(run + "/results.csv") as handle:
            rows = list(csv.DictReader(handle))
        for r in rows:
            if r["solved"] == "1" or int(r["length"]) > 220 or r["best_distance"] != "2":
                continue
            rng = np.random.default_rng(int(os.environ.get("S", "0")))
            out = solve(r["target"], r["sequence"], r["mfe_structure"], seconds, delta, cap, rng)
            total += 1
            solved += out["solved"]
            print(os.path.basename(run), r["target_id"], r["length"], out, flush=True)
    print("solved", solved, "of", total)


if __name__ == "__main__":
    main()

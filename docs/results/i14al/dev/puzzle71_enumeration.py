"""Puzzle 71: the best E(target) - E(outer helix opened) per pair at 10-63, the rest fixed.

The design is session 47's best for puzzle 71 (docs/results/i14ak/eterna-60s-seed1); the
pairs 4-74 and 5-73 and the sites 3, 6, 9, 64, 72 and 75 are enumerated (36 x 4^6
assignments per pair at 10-63, evaluation-only energies). Run from the repository root.
"""

import csv
import itertools

import RNA

with open("docs/results/i14ak/eterna-60s-seed1/results.csv") as handle:
    r = {x["target_id"]: x for x in csv.DictReader(handle)}
x = r["71"]
s = list(x["sequence"])
t = x["target"]
pt = list(t)
pt[4] = pt[5] = pt[73] = pt[74] = "."
o = "".join(pt)
md = RNA.md()
pairs = ["GC", "CG", "AU", "UA", "GU", "UG"]
for p3 in pairs:
    best = (9e9, None)
    for p1, p2 in itertools.product(pairs, pairs):
        for m in itertools.product("ACGU", repeat=6):
            q = s[:]
            q[4], q[74] = p1
            q[5], q[73] = p2
            q[10], q[63] = p3
            q[6], q[72], q[9], q[64], q[3], q[75] = m
            seq = "".join(q)
            fc = RNA.fold_compound(seq, md, RNA.OPTION_EVAL_ONLY)
            g = fc.eval_structure(t) - fc.eval_structure(o)
            if g < best[0]:
                best = (g, seq)
    print(p3, round(best[0], 2), best[1])

"""Probe: how often a local refold screen would reject a long target's mutants, and wrongly.

Usage: ``screen_probe.py TARGETS ID SECONDS WINDOW [SEED]``: runs the stage on one target
and, for each whole-target evaluation, folds the mutant with every site more than WINDOW
sites from its changes held to its parent's MFE structure (a hard constraint), without
acting on it; prints the counts as JSON.
"""

import json
import sys
import time

import numpy as np
import RNA

from benchmarks.ensemble_stage import StageSettings, build_search
from envs.dot_bracket import pair_table
from envs.folding import MFE_GAP_CAP, MFE_GAP_WEIGHT, hamming, mismatched_pairs

with open(sys.argv[1]) as handle:
    targets = dict(line.strip().split("\t")[:2] for line in handle if line.strip())
tid = sys.argv[2]
seconds = float(sys.argv[3])
w = int(sys.argv[4])
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 1
target = targets[tid]
n = len(target)
settings = StageSettings(
    seconds,
    decompose=0.3,
    repair=1.0,
    rivals=0.5,
    neighbourhood=16384,
    boost=True,
    mfe_length=200,
    grafts=0.2,
    restart=100,
)  # the harness's $F of docs/results/i14al/README.md
search = build_search(target, settings, seed)
orig = search._evaluate
log = []
md = RNA.md()


def screen(seq, parent):
    """The constrained fold of ``seq`` around its changes from ``parent`` (None: too many)."""
    diff = [k for k in range(n) if seq[k] != parent.sequence[k]]
    if not diff or len(diff) > 12:
        return None
    free = np.zeros(n, bool)
    for k in diff:
        free[max(0, k - w) : k + w + 1] = True
    pt = pair_table(parent.structure)
    cons = []
    for i in range(n):
        j = int(pt[i])
        if free[i] or (j >= 0 and free[j]):
            cons.append(".")
        else:
            cons.append("x" if j < 0 else ("(" if j > i else ")"))
    t0 = time.perf_counter()
    fc = RNA.fold_compound(seq, md)
    fc.hc_add_from_db("".join(cons), RNA.CONSTRAINT_DB_DEFAULT | RNA.CONSTRAINT_DB_ENFORCE_BP)
    s, e = fc.mfe()
    return s, e, time.perf_counter() - t0, len(diff)


def wrapped(seq):
    """Screen, then evaluate as the stage does, and log both."""
    members = [c for pool in search.pools for c in pool] + [
        c for c in (search.lead, search.best) if c is not None
    ]
    parent = min(members, key=lambda c: hamming(c.sequence, seq)) if members else None
    sc = screen(seq, parent) if parent is not None and search.mfe_only else None
    worst = (
        max((c.objective for c in search.pools[0]), default=None)
        if len(search.pools[0]) >= search.pool_size
        else None
    )
    t0 = time.perf_counter()
    cand = orig(seq)
    full = time.perf_counter() - t0
    entered = any(cand is c for pool in search.pools for c in pool)
    if sc is not None:
        s, e, secs, nd = sc
        # screened objective: as envs.folding.mfe_defects, with the constrained structure
        fc = RNA.fold_compound(seq, md, RNA.OPTION_EVAL_ONLY)
        gap = max(0.0, fc.eval_structure(target) - e)
        sv = np.clip(
            mismatched_pairs(s, target) + MFE_GAP_WEIGHT * min(gap, MFE_GAP_CAP) / MFE_GAP_CAP, 0, 1
        ).mean()
        would_reject = worst is not None and sv >= worst
        log.append(
            dict(
                full=full,
                screen=secs,
                nd=nd,
                same=s == cand.structure,
                entered=entered,
                reject=bool(would_reject),
                pd=parent.distance,
                d=cand.distance,
                dc=hamming(s, target),
            )
        )
    return cand


search._evaluate = wrapped
began = time.monotonic()
search.run(began + seconds)
L = log
print(
    json.dumps(
        dict(
            tid=tid,
            n=n,
            w=w,
            solved=search.solved,
            best=search.best.distance,
            evals=search.evaluations,
            screened=len(L),
            same=sum(x["same"] for x in L),
            entered=sum(x["entered"] for x in L),
            reject=sum(x["reject"] for x in L),
            false_reject=sum(x["reject"] and x["entered"] for x in L),
            full_ms=1e3 * np.mean([x["full"] for x in L]) if L else 0,
            screen_ms=1e3 * np.mean([x["screen"] for x in L]) if L else 0,
        )
    )
)

"""Session 20: pins of Rfam-Taneda 10's 70-219 junction in the hand-made geometry.

Needs ``envs/skeleton.py`` from ``../junction-pins.patch`` (apply it to commit 85e2015).
Designs the junction's skeleton (closing helix 5 pairs, branches followed 6 pairs in,
capped by a 6-pair hairpin) with the ensemble stage alone, 5 s per seed, and writes the
letters of sites 66-105 and 217-223 (1-based; the hand-made pins' sites) as IUPAC codes
to ``geometry-pins-SEED.txt``. Then, per file:
``autorl design --target 10.txt --sequence-constraint $(cat geometry-pins-SEED.txt)
--time-limit 60 --seed SEED``.
"""

import os
import time
from pathlib import Path

import numpy as np
from envs.skeleton import loop_skeleton

from envs.ensemble_search import EnsembleSearch

data = Path(os.environ["AUTORL_DATA"]) / "rfam_taneda.txt"
target = next(line.split()[1] for line in data.read_text().splitlines() if line.split()[0] == "10")
skeleton = loop_skeleton(target, (69, 218), closing_pairs=5, branch_pairs=6, cap="((((((....))))))")
print(skeleton.structure, len(skeleton.structure))
hand = set(range(65, 105)) | set(range(216, 223))  # 0-based
for seed in range(201, 209):
    search = EnsembleSearch(skeleton.structure, np.random.default_rng(seed), starts=4, rivals=0.5)
    search.run(time.monotonic() + 5)
    if not search.solved:
        print(seed, "skeleton not designed in 5 s")
        continue
    code = ["N"] * len(target)
    for letter, site in zip(search.best.sequence, skeleton.sites):
        if site in hand:
            code[site] = letter
    Path(f"geometry-pins-{seed}.txt").write_text("".join(code) + "\n")
    print(seed, "pins", sum(c != "N" for c in code))

"""Session 39: a dev set of long targets built from repeated modules (not a benchmark's).

Each target is a multiloop closed by a 4-pair helix holding 3-6 copies of one module (the
MFE structure of a random 30-70-nt sequence, trimmed to its outermost pair, so one
substructure closed by a helix), with 1-3 unpaired sites between copies, and an
unpaired 2-nt tail on each side. Copies of a module designed alone tend to pair with
each other in the whole design (session 37 saw it on long puzzles), which is what the
stage's context tries address. Lengths are kept within 150-400 nt.

Usage (from the project's root)::

    python docs/results/i14ad/repeats.py 40 3901 > docs/results/i14ad/dev/repeats40.txt
    python docs/results/i14ad/repeats.py 40 3902 sketch > docs/results/i14ad/dev/repeats40s.txt

With ``sketch`` the modules are loop-grammar domains (``meta.structure_grammar``: lonely
pairs, short stems, small interior loops) instead of MFE structures of random sequences.
"""

from __future__ import annotations

import sys

import numpy as np
import RNA

from meta.structure_grammar import _fitting_domain


def sketch_module(rng: np.random.Generator) -> str:
    """A loop-grammar domain of 30-70 nt (lonely pairs, short stems: Eterna-like)."""
    while True:
        piece = _fitting_domain(int(rng.integers(30, 71)), rng)
        if len(piece) >= 25 and piece.count("(") >= 6:
            return piece


def module(rng: np.random.Generator, sketch: bool = False) -> str:
    """The MFE structure of a random sequence, trimmed to one helix-closed substructure.

    With ``sketch``, a loop-grammar domain instead (:func:`sketch_module`).
    """
    if sketch:
        return sketch_module(rng)
    while True:
        n = int(rng.integers(30, 71))
        sequence = "".join(rng.choice(list("ACGU"), n))
        structure, _ = RNA.fold(sequence)
        first = structure.find("(")
        if first < 0:
            continue
        depth, last = 0, -1
        for k in range(first, n):
            depth += {"(": 1, ")": -1}.get(structure[k], 0)
            if depth == 0:
                last = k
                break
        piece = structure[first : last + 1]
        if len(piece) >= 25 and piece.count("(") >= 6:
            return piece


def target(rng: np.random.Generator, sketch: bool = False) -> str:
    """One repeat-rich multiloop target of 150-400 nt."""
    while True:
        copies = int(rng.integers(3, 7))
        unit = module(rng, sketch)
        inner = ""
        for _ in range(copies):
            inner += unit + "." * int(rng.integers(1, 4))
        structure = ".." + "((((" + "." + inner + "))))" + ".."
        if 150 <= len(structure) <= 400:
            return structure


def main() -> None:
    """Print COUNT targets (``>id`` and structure lines) for seed SEED."""
    count, seed = int(sys.argv[1]), int(sys.argv[2])
    sketch = sys.argv[3:] == ["sketch"]
    rng = np.random.default_rng(seed)
    for k in range(count):
        print(f">rep-{k + 1:03d}\n{target(rng, sketch)}")


if __name__ == "__main__":
    main()

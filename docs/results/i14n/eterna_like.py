r"""Eterna-like dev targets: designable structures with puzzle features, not a benchmark.

Eterna's player puzzles are hard for reasons random sequences' structures rarely show:
2-3 bp stems, lonely pairs, 1-nt bulges, multiloops whose branches touch (no linker) and
symmetric repeats (the same domain several times, which the design must break). This
script draws sketches from a loop grammar with those features, writes a quick sequence for
each (:func:`meta.structure_grammar.design_sequence`), repairs it towards the sketch a few
times and keeps the MFE structure of the last sequence: every target is designable (that
sequence folds into it) and keeps most of its sketch. With ``--sketches`` the sketches
themselves are written: harder (every feature kept), but some may have no solution.

Usage::

    python docs/results/i14n/eterna_like.py --count 60 --seed 14 --out eterna_like.txt
    python docs/results/i14n/eterna_like.py --count 200 --seed 15 --sketches --out sk.txt
"""

from __future__ import annotations

import argparse

import numpy as np

from envs.folding import mfe_structure
from meta.structure_grammar import _repair, design_sequence

#: Loop a stem closes: hairpin, interior loop or bulge, multiloop.
LOOPS = (0.40, 0.17, 0.43)


def stem(rng: np.random.Generator) -> int:
    """2 bp with 0.35, 3 with 0.25, else 4-8."""
    coin = rng.random()
    return 2 if coin < 0.35 else 3 if coin < 0.6 else int(rng.integers(4, 9))


def domain(rng: np.random.Generator, depth: int) -> str:
    """A stem (sometimes ending in a lonely pair) and the loop it closes."""
    text = "(" * stem(rng)
    close = ")" * len(text)
    if rng.random() < 0.25:  # a lonely pair between two small loops
        a, b = (1, 1) if rng.random() < 0.5 else (1, 0)
        text += "." * a + "("
        close = ")" + "." * b + close
    return text + loop(rng, depth) + close


def loop(rng: np.random.Generator, depth: int) -> str:
    """A hairpin (mostly 3-4 nt), a small interior loop or bulge, or a multiloop."""
    kind = int(rng.choice(3, p=LOOPS)) if depth < 4 else 0
    if kind == 0:
        short = rng.random() < 0.85
        return "." * (2 + int(rng.geometric(0.6)) if short else int(rng.integers(5, 12)))
    if kind == 1:
        left, right = (
            (0, 1)
            if rng.random() < 0.3
            else (1, 0)
            if rng.random() < 0.4
            else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        )
        return "." * left + domain(rng, depth + 1) + "." * right
    branches = int(rng.choice((2, 3, 4), p=(0.5, 0.35, 0.15)))
    if rng.random() < 0.3:  # a symmetric repeat: the same branch every time
        inner = [domain(rng, depth + 1)] * branches
    else:
        inner = [domain(rng, depth + 1) for _ in range(branches)]
    linker = [0 if rng.random() < 0.5 else int(rng.integers(1, 4)) for _ in range(branches + 1)]
    return "".join("." * linker[k] + inner[k] for k in range(branches)) + "." * linker[-1]


def sketch(rng: np.random.Generator, low: int, high: int) -> str:
    """Domains and short spacers until the length is in ``[low, high]`` (redrawn past it)."""
    while True:
        text = "." * int(rng.integers(0, 4))
        while len(text) < low:
            text += domain(rng, 0) + "." * int(rng.integers(0, 4))
        if len(text) <= high:
            return text


def target(rng: np.random.Generator, low: int, high: int, rounds: int = 4) -> str:
    """The MFE structure of a sequence designed and repaired towards a sketch."""
    wanted = sketch(rng, low, high)
    sequence = design_sequence(wanted, rng)
    folded = mfe_structure(sequence)
    for _ in range(rounds):
        if folded == wanted:
            break
        sequence = _repair(sequence, wanted, folded, rng)
        folded = mfe_structure(sequence)
    return folded


def main() -> None:
    """Write ``--count`` targets (or sketches) to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--min-length", type=int, default=40)
    parser.add_argument("--max-length", type=int, default=150)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--sketches", action="store_true", help="write the sketches")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with open(args.out, "w") as out:
        for _ in range(args.count):
            if args.sketches:
                out.write(sketch(rng, args.min_length, args.max_length) + "\n")
            else:
                out.write(target(rng, args.min_length, args.max_length) + "\n")


if __name__ == "__main__":
    main()

"""The ``grammar`` structure source: loop-grammar sketches, made realizable by refolding.

Random sequences fold into structures with short loops, few multiloops and few lonely pairs
(see :mod:`meta.structure_sources`); natural RNAs and puzzles have more of each. This
source draws the loops it wants instead, then keeps only what thermodynamics allows:

1. :func:`sketch_structure` draws a *sketch* of exactly the target length from a stochastic
   grammar over loop types (distributions below): the exterior loop holds helical domains,
   a domain is a stem closing a hairpin, an interior loop or bulge, or a multiloop, and the
   inner parts recurse.
2. :func:`design_sequence` writes a quick sequence for the sketch (a SAMFEO-like targeted
   start): pairs mostly G-C / C-G (some A-U, U-A, G-U, U-G), unpaired bases A-rich.
3. :func:`grammar_structure` folds the sequence with ViennaRNA and, for up to
   ``repair_rounds`` rounds, turns the pairs the fold missed into G-C / C-G and the bases
   it paired against the sketch into A, then folds again. The training target is the MFE
   structure of the last sequence: realizable by construction, and it keeps most of the
   sketch (measured in :mod:`meta.structure_sources`).

Distributions (nt; ``Geom(p)`` counts trials to the first success: 1, 2, ...):

- stem: 2 bp with 0.15, else ``2 + Geom(0.3)`` (mean 5.3), at most 15; natural stems are
  2-8 bp with a tail;
- lonely pair: with 0.15 a stem goes on, after a 1x1, 1x0, 0x1, 2x1 or 1x2 loop, with a
  single pair and another such loop before the next stem: the context in which lonely
  pairs are stable in MFE structures (elsewhere the refold removes them);
- the loop a stem closes: a hairpin (0.45), an interior loop or bulge (0.12) or a
  multiloop (0.43). Eterna100 has about 1.3 multiloops per 100 nt, random sequences 0.7;
- hairpin loop: ``2 + Geom(0.35)`` (3-8 mostly, mean 4.9) with 0.8, else log-uniform in
  7-60 (a heavy tail, mean 24): Rfam-Taneda's hairpins average 8.5 nt, up to 90;
- interior loop: a bulge (one side unpaired) with 0.3, else both sides unpaired; each
  side ``Geom(0.45)`` (mean 2.2) with 0.8, else log-uniform in 4-30 (asymmetric and heavy
  tailed, as Rfam-Taneda's: mean 6.2, up to 83);
- multiloop: 3, 4, 5, 6, 7 branches (with the closing helix) with 0.40, 0.30, 0.16, 0.09,
  0.05; every linker 0 with 0.25, ``Geom(0.35)`` (mean 2.9) with 0.675, else 6-15;
- exterior loop: dangling ends and spacers ``Geom(0.25) - 1`` (mean 3).

A loop has 1.3 inner domains on average, so a domain grows until it outgrows its room:
:func:`sketch_structure` draws :data:`DOMAIN_TRIES` domains for the room left in the
exterior loop (a domain that outgrows it is cut off) and keeps the longest that fits, then
a spacer, until the length is filled. Loop lengths follow the distributions above (as
drawn, not cut to fit), and long sequences get several long, branched domains. Every
draw comes from the candidate's generator, so a structure is a function of the seed and
the candidate index.
"""

from __future__ import annotations

import numpy as np

from envs.dot_bracket import pair_table
from envs.folding import EnergyModel, mfe_structure

#: Smallest domain: a 2-bp stem closing a 3-nt hairpin loop.
MIN_DOMAIN = 7
#: Probabilities of the loop a stem closes: hairpin, interior loop (or bulge), multiloop.
#: A loop has 0, 1 or ``branches - 1`` inner domains, 0.91 on average (< 1: domains end).
LOOP_PROBABILITIES = (0.45, 0.12, 0.43)
#: Branch counts of a multiloop (with the closing helix) and their probabilities.
BRANCHES = (3, 4, 5, 6, 7)
BRANCH_PROBABILITIES = (0.40, 0.30, 0.16, 0.09, 0.05)
#: Probability that a stem goes on, after a small loop, with a lonely pair.
LONELY_PROBABILITY = 0.15
#: Unpaired bases (5' side, 3' side) of the small loops around a lonely pair.
LONELY_LOOPS = ((1, 1), (1, 0), (0, 1), (2, 1), (1, 2))
#: Domains drawn for the room left in the exterior loop; the longest that fits is kept.
DOMAIN_TRIES = 16
#: Repair rounds of :func:`grammar_structure` (each costs one more fold).
REPAIR_ROUNDS = 2

_PAIRS = ("GC", "CG", "AU", "UA", "GU", "UG")
_PAIR_PROBABILITIES = (0.35, 0.35, 0.1, 0.1, 0.05, 0.05)
_LOOP_BASES = np.array(list("ACGU"))
_LOOP_PROBABILITIES = (0.55, 0.15, 0.1, 0.2)


def _geometric(rng: np.random.Generator, p: float) -> int:
    return int(rng.geometric(p))


def _log_uniform(rng: np.random.Generator, low: int, high: int) -> int:
    """An integer in ``[low, high]`` whose logarithm is uniform (a heavy tail)."""
    return min(high, int(np.exp(rng.uniform(np.log(low), np.log(high + 1)))))


def stem_length(rng: np.random.Generator) -> int:
    """Base pairs of a stem: 2 with 0.15, else ``2 + Geom(0.3)``, at most 15."""
    coin = rng.random()
    if coin < 0.15:
        return 2
    return min(15, 2 + _geometric(rng, 0.3))


def hairpin_length(rng: np.random.Generator) -> int:
    """Unpaired bases of a hairpin loop: ``2 + Geom(0.35)`` 0.8, else log-uniform 7-60."""
    if rng.random() < 0.8:
        return 2 + _geometric(rng, 0.35)
    return _log_uniform(rng, 7, 60)


def interior_side(rng: np.random.Generator) -> int:
    """Unpaired bases on one side of an interior loop: ``Geom(0.45)`` or log-uniform 4-30."""
    if rng.random() < 0.8:
        return _geometric(rng, 0.45)
    return _log_uniform(rng, 4, 30)


def linker_length(rng: np.random.Generator) -> int:
    """Unpaired bases between multiloop branches: 0, ``Geom(0.35)`` or 6-15."""
    coin = rng.random()
    if coin < 0.25:
        return 0
    if coin < 0.25 + 0.75 * 0.9:
        return _geometric(rng, 0.35)
    return int(rng.integers(6, 15, endpoint=True))


class _TooLong(Exception):
    """A domain outgrew the room it was drawn for."""


class _Builder:
    """Collects a domain's characters; raises :class:`_TooLong` past ``limit``."""

    def __init__(self, limit: int):
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit

    def add(self, text: str) -> None:
        self.size += len(text)
        if self.size > self.limit:
            raise _TooLong
        self.parts.append(text)


def sketch_structure(length: int, rng: np.random.Generator) -> str:
    """Draw a sketch of exactly ``length`` nt from the loop grammar (module docstring).

    Domains are drawn one after another into the exterior loop, each redrawn (up to
    :data:`DOMAIN_TRIES` times) until it fits the room left; spacers separate them.

    Args:
        length: Nucleotides (>= 1; from :data:`MIN_DOMAIN` on, at least one domain).
        rng: The candidate's generator.

    Returns:
        A balanced dot-bracket structure.
    """
    parts = ["." * min(_spacer(rng), max(0, length - MIN_DOMAIN))]  # room for a domain
    room = length - len(parts[0])
    while room >= MIN_DOMAIN:
        domain = _fitting_domain(room, rng)
        parts.append(domain)
        room -= len(domain)
        parts.append("." * min(room, _spacer(rng)))
        room -= len(parts[-1])
    parts.append("." * room)
    return "".join(parts)


def _spacer(rng: np.random.Generator) -> int:
    return _geometric(rng, 0.25) - 1


def _fitting_domain(room: int, rng: np.random.Generator) -> str:
    """The longest of :data:`DOMAIN_TRIES` grammar domains that fit ``room`` nt.

    Falls back to one stem closing a hairpin loop when none fits.
    """
    best = ""
    for _ in range(DOMAIN_TRIES):
        builder = _Builder(room)
        try:
            _domain(builder, rng)
        except _TooLong:
            continue
        if builder.size > len(best):
            best = "".join(builder.parts)
    if best:
        return best
    stem = min(stem_length(rng), (room - 3) // 2)
    return "(" * stem + "." * (room - 2 * stem) + ")" * stem


def _domain(builder: _Builder, rng: np.random.Generator) -> None:
    """A stem and the loop it closes (after a lonely pair, sometimes)."""
    stem = stem_length(rng)
    builder.add("(" * stem)
    if rng.random() < LONELY_PROBABILITY:
        outer = LONELY_LOOPS[int(rng.integers(len(LONELY_LOOPS)))]
        inner = LONELY_LOOPS[int(rng.integers(len(LONELY_LOOPS)))]
        builder.add("." * outer[0] + "(" + "." * inner[0])
        _domain(builder, rng)
        builder.add("." * inner[1] + ")" + "." * outer[1])
    else:
        _loop(builder, rng)
    builder.add(")" * stem)


def _loop(builder: _Builder, rng: np.random.Generator) -> None:
    """The loop a stem closes: a hairpin, an interior loop or bulge, or a multiloop."""
    kind = int(rng.choice(3, p=LOOP_PROBABILITIES))
    if kind == 0:
        builder.add("." * hairpin_length(rng))
    elif kind == 1:
        left, right = interior_side(rng), interior_side(rng)
        if rng.random() < 0.3:  # a bulge
            left, right = (0, right) if rng.random() < 0.5 else (left, 0)
        builder.add("." * left)
        _domain(builder, rng)
        builder.add("." * right)
    else:
        branches = int(rng.choice(BRANCHES, p=BRANCH_PROBABILITIES)) - 1
        for _ in range(branches):
            builder.add("." * linker_length(rng))
            _domain(builder, rng)
        builder.add("." * linker_length(rng))


def design_sequence(sketch: str, rng: np.random.Generator) -> str:
    """A quick sequence for a sketch: G-C-rich pairs, A-rich unpaired bases.

    Args:
        sketch: A dot-bracket structure.
        rng: The candidate's generator.

    Returns:
        A sequence over ``ACGU`` as long as ``sketch``.
    """
    partner = pair_table(sketch)
    bases = list(_LOOP_BASES[rng.choice(4, size=len(sketch), p=_LOOP_PROBABILITIES)])
    opening = [i for i, j in enumerate(partner) if j > i]
    chosen = rng.choice(len(_PAIRS), size=len(opening), p=_PAIR_PROBABILITIES)
    for i, pair in zip(opening, chosen):
        bases[i], bases[partner[i]] = _PAIRS[pair]
    return "".join(bases)


def _repair(sequence: str, sketch: str, folded: str, rng: np.random.Generator) -> str:
    """Make missed sketch pairs G-C / C-G and bases paired against the sketch A."""
    want, got = pair_table(sketch), pair_table(folded)
    bases = list(sequence)
    for i in np.flatnonzero(want != got):
        j = int(want[i])
        if j < 0:
            bases[i] = "A"
        elif j > i:
            bases[i], bases[j] = ("GC", "CG")[int(rng.integers(2))]
    return "".join(bases)


def grammar_structure(
    length: int,
    rng: np.random.Generator,
    energy: EnergyModel | None = None,
    repair_rounds: int = REPAIR_ROUNDS,
) -> str:
    """A training structure of the ``grammar`` source (see the module docstring).

    Args:
        length: Nucleotides of the structure.
        rng: The candidate's generator (every draw comes from it).
        energy: The energy model of the folds.
        repair_rounds: Times the sequence is repaired towards the sketch and refolded.

    Returns:
        The MFE structure of the last designed sequence.
    """
    return grammar_candidate(length, rng, energy, repair_rounds)[1]


def grammar_candidate(
    length: int,
    rng: np.random.Generator,
    energy: EnergyModel | None = None,
    repair_rounds: int = REPAIR_ROUNDS,
) -> tuple[str, str]:
    """The sketch and the training structure of :func:`grammar_structure` (to compare them)."""
    sketch = sketch_structure(length, rng)
    sequence = design_sequence(sketch, rng)
    folded = mfe_structure(sequence, energy)
    for _ in range(repair_rounds):
        if folded == sketch:
            break
        sequence = _repair(sequence, sketch, folded, rng)
        folded = mfe_structure(sequence, energy)
    return sketch, folded

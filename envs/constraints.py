"""Sequence constraints of a design: IUPAC codes per site, GC content, forbidden motifs.

A biologist keeps a binding site fixed (``NNNNGAAANNNN``), needs the GC content in a range
for synthesis, and forbids homopolymer runs or a restriction site. :class:`DesignConstraints`
holds the three; the helpers here check them before any work (:func:`check_feasible`), turn
the IUPAC codes into action masks for the LEARNA decision process (:func:`action_masks`),
list what a sequence violates (:func:`violations`) and repair GC content and motifs after
the policy's proposal without touching what the IUPAC codes fix (:func:`repair`).

Nucleotides are RNA letters; ``T`` is read as ``U`` everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from envs.dot_bracket import pair_table

#: IUPAC nucleotide codes and the bases each allows.
IUPAC: dict[str, frozenset[str]] = {
    "A": frozenset("A"),
    "C": frozenset("C"),
    "G": frozenset("G"),
    "U": frozenset("U"),
    "R": frozenset("AG"),
    "Y": frozenset("CU"),
    "S": frozenset("CG"),
    "W": frozenset("AU"),
    "K": frozenset("GU"),
    "M": frozenset("AC"),
    "B": frozenset("CGU"),
    "D": frozenset("AGU"),
    "H": frozenset("ACU"),
    "V": frozenset("ACG"),
    "N": frozenset("ACGU"),
}

#: Base pairs allowed on a target pair: Watson-Crick, plus GU wobbles when enabled.
WATSON_CRICK = ("GC", "CG", "AU", "UA")
WOBBLE = ("GU", "UG")
#: Actions that are valid at an unpaired site (G, A, U, C); the GU-pair actions 4 and 5
#: exist only at paired sites.
UNPAIRED_ACTIONS = 4
#: The letters LEARNA's actions 0-3 write at an unpaired site, in order.
UNPAIRED_LETTERS = "GAUC"


class ConstraintError(ValueError):
    """A constraint is malformed or cannot be met (a ``ValueError``: bad input)."""


def _normalize(text: str) -> str:
    return text.strip().upper().replace("T", "U")


def parse_iupac(text: str, source: str = "sequence constraint") -> str:
    """Validate an IUPAC constraint and return it in upper case with ``T`` read as ``U``.

    Args:
        text: One IUPAC code per site.
        source: Where it came from, for error messages.

    Raises:
        ConstraintError: empty, or a letter that is not an IUPAC nucleotide code.
    """
    constraint = _normalize(text)
    if not constraint:
        raise ConstraintError(f"{source}: empty sequence constraint")
    for index, char in enumerate(constraint):
        if char not in IUPAC:
            raise ConstraintError(
                f"{source}: position {index + 1}: {text.strip()[index]!r} is not an IUPAC "
                f"nucleotide code (one of {''.join(IUPAC)})"
            )
    return constraint


def parse_gc(text: str) -> tuple[float, float]:
    """Parse ``MIN:MAX`` (fractions in [0, 1]) for ``--gc``.

    Raises:
        ConstraintError: not two numbers, outside [0, 1], or MIN > MAX.
    """
    low, sep, high = text.partition(":")
    try:
        bounds = (float(low), float(high)) if sep else None
    except ValueError:
        bounds = None
    if bounds is None or not all(math.isfinite(b) for b in bounds):
        raise ConstraintError(
            f"--gc must be MIN:MAX with two fractions, e.g. 0.4:0.6; got {text!r}"
        )
    return check_gc(bounds)


def check_gc(bounds: Iterable[float]) -> tuple[float, float]:
    """Validate a GC range given as two fractions.

    Raises:
        ConstraintError: not two numbers in [0, 1] with MIN <= MAX.
    """
    values = tuple(float(b) for b in bounds)
    if len(values) != 2:
        raise ConstraintError(f"a GC range is two fractions (min, max), got {values}")
    low, high = values
    if not (0.0 <= low <= 1.0 and 0.0 <= high <= 1.0):
        raise ConstraintError(f"GC content bounds must lie in [0, 1], got {low:g}:{high:g}")
    if low > high:
        raise ConstraintError(f"GC content minimum {low:g} is above the maximum {high:g}")
    return low, high


def parse_motifs(text: str | Iterable[str]) -> tuple[str, ...]:
    """Parse forbidden motifs (``AAAAA,GGGG,GAATTC`` or a list), IUPAC codes allowed.

    Raises:
        ConstraintError: an empty motif or a letter that is not an IUPAC code.
    """
    if isinstance(text, str) and not text.strip():
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    motifs = []
    for item in items:
        motif = _normalize(item)
        if not motif:
            raise ConstraintError(f"empty forbidden motif in {text!r}")
        for char in motif:
            if char not in IUPAC:
                raise ConstraintError(
                    f"forbidden motif {item.strip()!r}: {char!r} is not an IUPAC nucleotide code"
                )
        motifs.append(motif)
    return tuple(dict.fromkeys(motifs))


@dataclass(frozen=True)
class DesignConstraints:
    """What every reported design must satisfy besides folding into the target.

    Attributes:
        sequence: IUPAC code per site (None: any base anywhere).
        gc: Inclusive GC-content range as fractions (None: any).
        forbid: IUPAC motifs no design may contain.
    """

    sequence: str | None = None
    gc: tuple[float, float] | None = None
    forbid: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.sequence is not None:
            object.__setattr__(self, "sequence", parse_iupac(self.sequence))
        if self.gc is not None:
            object.__setattr__(self, "gc", check_gc(self.gc))
        object.__setattr__(self, "forbid", parse_motifs(self.forbid) if self.forbid else ())

    @property
    def empty(self) -> bool:
        """No constraint at all."""
        return self.sequence is None and self.gc is None and not self.forbid

    @property
    def needs_repair(self) -> bool:
        """GC or motif constraints, which the policy's proposals may break."""
        return self.gc is not None or bool(self.forbid)

    def breaks_rules(self, sequence: str) -> bool:
        """Whether ``sequence`` violates a constraint, checked only with GC or motif rules.

        Without them nothing is checked: the moves that write designs keep the IUPAC codes
        by construction.
        """
        return self.needs_repair and bool(violations(sequence, self))

    def codes(self, i: int, j: int) -> str | None:
        """The IUPAC codes of sites ``i..j``, inclusive (None: no sequence constraint)."""
        return self.sequence[i : j + 1] if self.sequence else None

    def with_sequence(self, sequence: str | None) -> DesignConstraints:
        """The same GC and motif rules with another IUPAC constraint."""
        return DesignConstraints(sequence, self.gc, self.forbid)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (recorded in outputs and results)."""
        return {
            "sequence_constraint": self.sequence or "",
            "gc": list(self.gc) if self.gc else None,
            "forbid": list(self.forbid),
        }


# ----------------------------------------------------------------------------- units


def action_of(option: str) -> int:
    """The LEARNA action that writes ``option``: a letter (``GAUC``) or a pair (``GC``...).

    Raises:
        ValueError: neither a letter nor a base pair.
    """
    if len(option) == 1 and option in UNPAIRED_LETTERS:
        return UNPAIRED_LETTERS.index(option)
    if option in WATSON_CRICK + WOBBLE:
        return (WATSON_CRICK + WOBBLE).index(option)
    raise ValueError(f"{option!r} is neither a letter (G, A, U, C) nor a base pair")


def _pair_options(gu_pairs: bool) -> tuple[str, ...]:
    return WATSON_CRICK + WOBBLE if gu_pairs else WATSON_CRICK


def _allowed(constraint: str | None, site: int) -> frozenset[str]:
    return IUPAC["N"] if constraint is None else IUPAC[constraint[site]]


def unit_options(
    structure: str, constraint: str | None, gu_pairs: bool
) -> tuple[list[tuple[int, int]], list[tuple[str, ...]]]:
    """The design units of a target (unpaired sites, and pairs as one unit) and their options.

    Args:
        structure: The target.
        constraint: IUPAC codes per site, or None.
        gu_pairs: Whether GU and UG may be placed on pairs.

    Returns:
        ``(units, options)``: ``units[k] = (site, partner)`` (partner -1 when unpaired, site
        < partner otherwise) and the letters (or pairs) each unit may take under the
        constraint, in the order the LEARNA actions list them.
    """
    pairs = pair_table(structure)
    units, options = [], []
    for site, partner in enumerate(pairs):
        if 0 <= partner < site:
            continue
        units.append((site, int(partner)))
        if partner < 0:
            options.append(tuple(b for b in UNPAIRED_LETTERS if b in _allowed(constraint, site)))
        else:
            first, second = _allowed(constraint, site), _allowed(constraint, int(partner))
            options.append(
                tuple(p for p in _pair_options(gu_pairs) if p[0] in first and p[1] in second)
            )
    return units, options


def check_feasible(
    structure: str, constraints: DesignConstraints, gu_pairs: bool = False, source: str = ""
) -> None:
    """Refuse constraints that no sequence can meet, before any work is done.

    Checks: the IUPAC constraint's length; every pair can take a base pair its two codes
    allow; some sequence meets the GC range (given the codes); no motif is forced by the
    codes alone.

    Args:
        structure: The target.
        constraints: The constraints.
        gu_pairs: Whether GU wobble pairs count as pairs.
        source: Prefix of error messages (e.g. the target id).

    Raises:
        ConstraintError: naming the positions (1-based) that cannot be satisfied.
    """
    if constraints.empty:
        return
    where = f"{source}: " if source else ""
    code = constraints.sequence
    if code is not None and len(code) != len(structure):
        raise ConstraintError(
            f"{where}the sequence constraint has {len(code)} codes, the target {len(structure)} "
            "sites"
        )
    units, options = unit_options(structure, code, gu_pairs)
    impossible = [(site, partner) for (site, partner), o in zip(units, options) if not o]
    if impossible:
        allowed = "Watson-Crick or GU pairs" if gu_pairs else "Watson-Crick pairs (GU is off)"
        listed = ", ".join(
            f"{s + 1}-{p + 1} ({code[s]} with {code[p]})" if code else f"{s + 1}-{p + 1}"
            for s, p in impossible[:10]
        )
        more = f" and {len(impossible) - 10} more" if len(impossible) > 10 else ""
        raise ConstraintError(
            f"{where}the sequence constraint leaves no base pair for the target pairs at "
            f"positions {listed}{more}; allowed are {allowed}"
        )
    if constraints.gc is not None:
        _check_gc_feasible(structure, options, constraints.gc, where)
    letters = _site_letters(units, options, len(structure))
    for motif in constraints.forbid:
        forced = _forced_motif(letters, motif)
        if forced is not None:
            raise ConstraintError(
                f"{where}the sequence constraint forces the forbidden motif {motif} at "
                f"positions {forced + 1}-{forced + len(motif)}"
            )


def _gc_counts(option: tuple[str, ...]) -> set[int]:
    return {sum(c in "GC" for c in choice) for choice in option}


def _check_gc_feasible(
    structure: str, options: list[tuple[str, ...]], gc: tuple[float, float], where: str
) -> None:
    """Some total GC count allowed by the units must fall in the range (a subset-sum)."""
    length = len(structure)
    reachable = np.zeros(2 * length + 1, dtype=bool)
    reachable[0] = True
    for option in options:
        step = np.zeros_like(reachable)
        for count in _gc_counts(option):
            step[count:] |= reachable[: len(reachable) - count]
        reachable = step
    low, high = math.ceil(gc[0] * length - 1e-9), math.floor(gc[1] * length + 1e-9)
    counts = np.flatnonzero(reachable)
    if not any(low <= c <= high for c in counts):
        raise ConstraintError(
            f"{where}no sequence meeting the constraint has a GC content in "
            f"[{gc[0]:g}, {gc[1]:g}]: with {length} sites it needs {low}-{high} G or C, the "
            f"target's pairs and the sequence constraint allow {counts.min()}-{counts.max()}"
        )


def _site_letters(
    units: list[tuple[int, int]], options: list[tuple[str, ...]], length: int
) -> list[frozenset[str]]:
    """The bases each site can take, given its codes and its partner's (pairs force bases)."""
    letters: list[frozenset[str]] = [frozenset()] * length
    for (site, partner), option in zip(units, options):
        letters[site] = frozenset(choice[0] for choice in option)
        if partner >= 0:
            letters[partner] = frozenset(choice[1] for choice in option)
    return letters


def _forced_motif(letters: list[frozenset[str]], motif: str) -> int | None:
    """The first position where every allowed sequence contains ``motif``."""
    for start in range(len(letters) - len(motif) + 1):
        if all(letters[start + k] <= IUPAC[m] for k, m in enumerate(motif)):
            return start
    return None


# ----------------------------------------------------------------------------- checks


def gc_content(sequence: str) -> float:
    """Fraction of G and C in ``sequence``."""
    return sum(c in "GC" for c in sequence) / len(sequence) if sequence else 0.0


def motif_hits(sequence: str, motif: str) -> list[int]:
    """0-based start positions where ``sequence`` matches the IUPAC ``motif``."""
    sets = [IUPAC[m] for m in motif]
    return [
        start
        for start in range(len(sequence) - len(motif) + 1)
        if all(sequence[start + k] in allowed for k, allowed in enumerate(sets))
    ]


def violations(sequence: str, constraints: DesignConstraints) -> list[str]:
    """What ``sequence`` violates, one message each; empty when it satisfies everything."""
    problems = []
    code = constraints.sequence
    if code is not None:
        if len(code) != len(sequence):
            problems.append(f"length {len(sequence)} differs from the constraint's {len(code)}")
        else:
            bad = [i for i, (s, c) in enumerate(zip(sequence, code)) if s not in IUPAC[c]]
            if bad:
                problems.append(
                    "sequence constraint broken at positions "
                    + ", ".join(f"{i + 1} ({sequence[i]} not {code[i]})" for i in bad[:10])
                )
    if constraints.gc is not None:
        gc = gc_content(sequence)
        low, high = constraints.gc
        if not low - 1e-9 <= gc <= high + 1e-9:
            problems.append(f"GC content {gc:.3f} outside [{low:g}, {high:g}]")
    for motif in constraints.forbid:
        hits = motif_hits(sequence, motif)
        if hits:
            problems.append(
                f"forbidden motif {motif} at positions {', '.join(str(h + 1) for h in hits[:10])}"
            )
    return problems


def constraint_report(sequence: str, constraints: DesignConstraints) -> dict[str, bool]:
    """Which constraints ``sequence`` satisfies (only those that are set)."""
    report: dict[str, bool] = {}
    if constraints.sequence is not None:
        report["sequence"] = len(constraints.sequence) == len(sequence) and all(
            s in IUPAC[c] for s, c in zip(sequence, constraints.sequence)
        )
    if constraints.gc is not None:
        low, high = constraints.gc
        report["gc"] = low - 1e-9 <= gc_content(sequence) <= high + 1e-9
    if constraints.forbid:
        report["forbid"] = not any(motif_hits(sequence, m) for m in constraints.forbid)
    return report


# ----------------------------------------------------------------------------- actions


def action_masks(
    structure: str,
    sites: np.ndarray,
    partners: np.ndarray,
    constraint: str | None,
    num_actions: int,
) -> np.ndarray:
    """Allowed LEARNA actions per decision site, under an IUPAC constraint if one is given.

    Action ``a`` at an unpaired site writes ``GAUC[a]`` (``a < 4``); at an opening bracket
    it writes the pair ``GC, CG, AU, UA, GU, UG[a]``. Actions 4 and 5 exist only with GU
    pairs and only set pairs: they are masked at every unpaired site, constraint or not, so
    an unpaired site always chooses among the four nucleotides with an even prior.

    Args:
        structure: The target.
        sites: Decision sites in visiting order.
        partners: Partner of each decision site (-1 when unpaired).
        constraint: IUPAC codes, or None (every nucleotide allowed).
        num_actions: 4, or 6 with GU pairs.

    Returns:
        A bool array ``(len(sites), num_actions)``.
    """
    masks = np.ones((len(sites), num_actions), dtype=bool)
    masks[np.asarray(partners) < 0, UNPAIRED_ACTIONS:] = False
    if constraint is None:
        return masks
    pairs = WATSON_CRICK + WOBBLE
    for row, (site, partner) in enumerate(zip(sites, partners)):
        allowed = IUPAC[constraint[site]]
        if partner < 0:
            for action in range(min(num_actions, UNPAIRED_ACTIONS)):
                masks[row, action] = UNPAIRED_LETTERS[action] in allowed
        else:
            for action in range(num_actions):
                pair = pairs[action]
                masks[row, action] = pair[0] in allowed and pair[1] in IUPAC[constraint[partner]]
    return masks


# ----------------------------------------------------------------------------- repair


def repair(
    sequence: str,
    structure: str,
    constraints: DesignConstraints,
    rng: np.random.Generator,
    gu_pairs: bool = False,
    max_moves: int | None = None,
) -> str:
    """Move a sequence into the GC range and out of every forbidden motif.

    A randomized local search over design units (unpaired sites, and pairs as pairs): while
    a forbidden motif occurs, one unit inside an occurrence takes another option its IUPAC
    codes allow; while the GC content is out of range, a unit that can move it the right
    way does (loop sites before pairs when lowering it, helix interiors before helix ends;
    pairs first when raising it). Pairs stay base pairs and IUPAC codes stay met. Units the
    policy set are changed only where a rule requires it.

    Args:
        sequence: The policy's proposal (it must meet the IUPAC codes).
        structure: The target.
        constraints: The constraints.
        rng: Source of the random choices.
        gu_pairs: Whether GU wobbles may be placed on pairs.
        max_moves: Most unit changes (default ``10 * len(sequence)``).

    Returns:
        A sequence satisfying every constraint when the search found one, else the last
        one tried (check with :func:`violations`).
    """
    if not constraints.needs_repair:
        return sequence
    units, options = unit_options(structure, constraints.sequence, gu_pairs)
    pairs = pair_table(structure)
    unit_of = unit_index(units, len(sequence))
    chars = list(sequence)
    moves = 10 * len(sequence) if max_moves is None else max_moves
    for _ in range(moves):
        current = "".join(chars)
        hits = [(m, h) for m in constraints.forbid for h in motif_hits(current, m)]
        if hits:
            motif, start = hits[int(rng.integers(len(hits)))]
            candidates = sorted({int(unit_of[i]) for i in range(start, start + len(motif))})
            _change_unit(chars, units, options, candidates, rng, direction=0)
            continue
        if constraints.gc is None:
            break
        gc, (low, high) = gc_content(current), constraints.gc
        if gc < low - 1e-9:
            direction = 1
        elif gc > high + 1e-9:
            direction = -1
        else:
            break
        if not _change_unit(chars, units, options, range(len(units)), rng, direction, pairs):
            break
    return "".join(chars)


def unit_index(units: list[tuple[int, int]], length: int) -> np.ndarray:
    """For every site, the index of its unit in ``units`` (see :func:`unit_options`)."""
    index = np.empty(length, dtype=np.int64)
    for k, (site, partner) in enumerate(units):
        index[site] = k
        if partner >= 0:
            index[partner] = k
    return index


def unit_value(chars: str | list[str], unit: tuple[int, int]) -> str:
    """The letter (unpaired site) or pair a unit has in ``chars``."""
    site, partner = unit
    return chars[site] + (chars[partner] if partner >= 0 else "")


def assign(chars: list[str], unit: tuple[int, int], option: str) -> None:
    """Write ``option`` (a letter, or a pair onto the pair's two sites) into ``chars``."""
    site, partner = unit
    chars[site] = option[0]
    if partner >= 0:
        chars[partner] = option[1]


def _stacked(units: list[tuple[int, int]], structure_pairs: np.ndarray, k: int) -> bool:
    """Whether pair unit ``k`` is stacked on pairs on both sides (inside a helix)."""
    site, partner = units[k]
    inner = site + 1 < partner - 1 and structure_pairs[site + 1] == partner - 1
    outer = (
        site > 0 and partner + 1 < len(structure_pairs) and structure_pairs[site - 1] == partner + 1
    )
    return bool(inner and outer)


def _priority(units: list[tuple[int, int]], pairs: np.ndarray, k: int, direction: int) -> int:
    """Which moves to try first (lower first) when the GC content must move.

    Lowering GC: loop sites first, then pairs inside helices (a helix end matters most to
    its stability); raising GC: pairs first (a GC pair only strengthens its helix), then
    loop sites (a G or C in a loop invites mispairing).
    """
    unpaired = units[k][1] < 0
    if direction < 0:
        return 0 if unpaired else (1 if _stacked(units, pairs, k) else 2)
    if direction > 0:
        return 1 if unpaired else 0
    return 0


def _change_unit(
    chars: list[str],
    units: list[tuple[int, int]],
    options: list[tuple[str, ...]],
    candidates: Iterable[int],
    rng: np.random.Generator,
    direction: int,
    pairs: np.ndarray | None = None,
) -> bool:
    """Give one random candidate unit another option (raising or lowering GC if asked).

    With ``pairs`` (the target's pair table), moves of the best :func:`_priority` class are
    drawn first.
    """
    moves = []
    for k in candidates:
        current = unit_value(chars, units[k])
        gc_now = sum(c in "GC" for c in current)
        for option in options[k]:
            if option == current:
                continue
            change = sum(c in "GC" for c in option) - gc_now
            if direction == 0 or change * direction > 0:
                rank = _priority(units, pairs, k, direction) if pairs is not None else 0
                moves.append((rank, k, option))
    if not moves:
        return False
    best = min(rank for rank, _, _ in moves)
    moves = [(k, option) for rank, k, option in moves if rank == best]
    k, option = moves[int(rng.integers(len(moves)))]
    assign(chars, units[k], option)
    return True


def conform(sequence: str, structure: str, constraint: str, rng: np.random.Generator) -> str:
    """Bring every unit that breaks its IUPAC codes back onto a random allowed option.

    Units that already meet their codes (unpaired sites; pairs whose two bases are an
    allowed pair) are kept as they are, GU pairs included.

    Args:
        sequence: Any sequence as long as the target.
        structure: The target.
        constraint: IUPAC codes (feasible on the target).
        rng: Source of the replacements.

    Returns:
        A sequence matching ``constraint``.
    """
    units, options = unit_options(structure, constraint, gu_pairs=True)
    chars = list(sequence.upper())
    for unit, option in zip(units, options):
        if unit_value(chars, unit) in option:
            continue
        allowed = [o for o in option if o not in WOBBLE] or list(option)
        assign(chars, unit, allowed[int(rng.integers(len(allowed)))])
    return "".join(chars)


def random_constraint(structure: str, fraction: float, rng: np.random.Generator) -> str:
    """A benchmark constraint: ``fraction`` of the unpaired sites fixed to random bases.

    The other sites stay ``N``. Unpaired sites are always compatible with their target, so
    the constraint is feasible whatever the bases; GC ranges are checked separately.

    Args:
        structure: The target.
        fraction: Share of the unpaired sites to fix, in [0, 1] (rounded to a count).
        rng: Source of the sites and bases.

    Returns:
        The IUPAC constraint.

    Raises:
        ValueError: ``fraction`` is outside [0, 1].
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"the constrained fraction must be in [0, 1], got {fraction}")
    unpaired = [i for i, c in enumerate(structure) if c == "."]
    count = int(round(fraction * len(unpaired)))
    chosen = rng.choice(len(unpaired), size=count, replace=False) if count else []
    code = ["N"] * len(structure)
    for index in chosen:
        code[unpaired[int(index)]] = "ACGU"[int(rng.integers(4))]
    return "".join(code)

"""Proofs that a target structure cannot be the MFE structure of any sequence.

Some targets cannot be designed at all under the energy model, and no designer, however
long it runs, will solve them. This module finds such targets and says why, with a proof
that holds for every sequence (within the IUPAC constraint, when one is given):

- **Outside the folding algorithm's search space**: a hairpin of fewer than 3 unpaired
  bases, an interior loop or bulge of more than ViennaRNA's ``MAXLOOP`` (30) unpaired
  bases, or a lonely pair when lonely pairs are forbidden. ViennaRNA's MFE algorithm never
  returns such a structure (Rfam-Taneda's targets 16 and 23).
- **A competitor that always wins**: a structure C, inside the search space, with
  E(C) < E(target) for every sequence. The free energy is a sum of loop terms, and each
  term depends only on a few sites (a hairpin's closing pair and its loop, an exterior or
  multiloop branch's pair and its two neighbours, ...). Terms the two structures share
  cancel, so E(target) - E(C) depends only on the sites of the terms they do not share;
  enumerating those sites' letters (canonical pairs on the target's pairs) proves or
  refutes the claim exactly. Sites that no unshared term joins are minimised apart (the
  minimum of a sum of independent parts is the sum of their minima), so opening a lonely
  pair that closes a multiloop costs the sum of its branches' assignments, not their
  product; a part too large to enumerate is minimised by variable elimination over its
  terms (:mod:`envs.min_sum`), which costs about the sum of its terms' assignments.
  The competitors tried are the target with one pair opened, a helix of up to three
  pairs opened, and one pair end slid by one site (Rfam-Taneda's target 20: its
  3'-terminal pair over a one-base bulge loses at least 0.6 kcal/mol to its opening,
  whatever the sequence), plus any structures the caller gives (e.g. the MFE structures
  of the best designs found).

A target without a proof may still be undesignable: the check is sound, not complete.
It does not know the GC-content and motif rules, which only shrink the set of sequences
(so a proof stays valid under them). The term decomposition follows ViennaRNA's loop
energy model with dangles 0 or 2 (the only settings :class:`envs.folding.EnergyModel`
allows); ``tests/test_designability.py`` checks it against ViennaRNA's own evaluation on
random structures.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from envs.constraints import IUPAC
from envs.dot_bracket import is_lonely, loop_contents, pair_table, parse_structure
from envs.folding import (
    CANONICAL_PAIRS,
    MAX_INTERIOR_LOOP,
    MIN_HAIRPIN,
    EnergyModel,
    structure_energies,
)
from envs.min_sum import (
    DEFAULT_MAX_TABLE,
    anchored_cost,
    anchored_factors,
    elimination_width,
    minimise,
)

__all__ = [
    "CANONICAL_PAIRS",
    "DEFAULT_MAX_ASSIGNMENTS",
    "CompetitorResult",
    "DesignabilityReport",
    "Obstacle",
    "check_designability",
    "competitor_margin",
    "loop_terms",
    "search_space_obstacles",
    "term_sites",
]

_PAIRS = frozenset(CANONICAL_PAIRS)
#: A partner for a letter whose pair is outside the enumerated sites (any would do).
_COMPLEMENT = {"A": "U", "C": "G", "G": "C", "U": "A"}
#: Letter assignments evaluated per competitor at most, summed over its independent
#: components (about 20 us each, see :func:`competitor_margin`).
DEFAULT_MAX_ASSIGNMENTS = 300_000
#: The longest helix (stacked pairs) a competitor opens whole.
MAX_OPENED_HELIX = 3
#: Free energies are integers in dcal/mol: a margin above this is a strict win.
_STRICT = 0.005
#: Hairpin sizes whose energy depends on every loop letter (special triloops, tetraloops
#: and hexaloops); other hairpins depend on the closing pair and its mismatch only.
_SPECIAL_HAIRPIN_SIZES = frozenset({3, 4, 6})
#: Interior loops (5' side, 3' side unpaired) tabulated by their whole sequence.
_TABULATED_INTERIOR = frozenset({(1, 1), (1, 2), (2, 1), (2, 2)})


def _inside(sites: Iterable[int], length: int) -> frozenset[int]:
    return frozenset(s for s in sites if 0 <= s < length)


def _hairpin_sites(i: int, j: int) -> frozenset[int]:
    if j - i - 1 in _SPECIAL_HAIRPIN_SIZES:
        return frozenset(range(i, j + 1))
    return frozenset({i, j, i + 1, j - 1})


def _interior_sites(i: int, j: int, k: int, q: int) -> frozenset[int]:
    sizes = (k - i - 1, j - q - 1)
    if sizes in _TABULATED_INTERIOR:
        return frozenset(range(i, k + 1)) | frozenset(range(q, j + 1))
    return frozenset({i, j, k, q, i + 1, j - 1, k - 1, q + 1})


def loop_terms(structure: str) -> dict[tuple, frozenset[int]]:
    """The sequence-dependent terms of a structure's free energy and the sites of each.

    A term is keyed by its kind and its pairs, so two structures share a term exactly when
    both have it: ``("hairpin", i, j)``, ``("interior", i, j, k, q)``, ``("multi", i, j,
    branches, unpaired)`` (its closing pair; the loop's size penalties depend on the
    counts only), ``("multi-branch", k, q)`` (a multiloop branch with its neighbours) and
    ``("exterior", k, q)`` (an exterior branch with its neighbours). Sites are 0-based.
    """
    partners = [int(p) for p in pair_table(structure)]
    n = len(partners)
    terms: dict[tuple, frozenset[int]] = {}
    for k, q in loop_contents(partners, -1, n)[0]:
        terms[("exterior", k, q)] = _inside((k, q, k - 1, q + 1), n)
    for i, j in ((i, j) for i, j in enumerate(partners) if j > i):
        branches, unpaired = loop_contents(partners, i, j)
        if not branches:
            terms[("hairpin", i, j)] = _hairpin_sites(i, j)
        elif len(branches) == 1:
            k, q = branches[0]
            terms[("interior", i, j, k, q)] = _interior_sites(i, j, k, q)
        else:
            terms[("multi", i, j, len(branches), unpaired)] = frozenset({i, j, i + 1, j - 1})
            for k, q in branches:
                terms[("multi-branch", k, q)] = frozenset({k, q, k - 1, q + 1})
    return terms


def term_sites(target: str, competitor: str) -> list[int]:
    """The sites E(target) - E(competitor) depends on: those of the unshared terms."""
    return _unshared_sites(loop_terms(target), loop_terms(competitor))


def _unshared_sites(
    ours: dict[tuple, frozenset[int]], theirs: dict[tuple, frozenset[int]]
) -> list[int]:
    sites: set[int] = set()
    for key in ours.keys() ^ theirs.keys():
        sites |= ours.get(key, frozenset()) | theirs.get(key, frozenset())
    return sorted(sites)


@dataclass(frozen=True)
class Obstacle:
    """Why a target cannot be designed.

    Attributes:
        kind: ``"hairpin-too-short"``, ``"loop-too-long"``, ``"lonely-pair"`` (lonely
            pairs forbidden) or ``"competitor"``.
        pair: The target's base pair at fault (1-based), or None.
        message: The reason in words, 1-based positions.
        competitor: The competitor structure (``"competitor"`` only).
        margin: Minimum of E(target) - E(competitor) over every sequence, kcal/mol.
    """

    kind: str
    pair: tuple[int, int] | None
    message: str
    competitor: str | None = None
    margin: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "kind": self.kind,
            "pair": list(self.pair) if self.pair else None,
            "message": self.message,
            "competitor": self.competitor,
            "margin": None if self.margin is None else round(self.margin, 2),
        }


def search_space_obstacles(structure: str, energy: EnergyModel | None = None) -> list[Obstacle]:
    """Loops and pairs no MFE structure has under ``energy`` (empty: inside the space).

    Hairpins need at least 3 unpaired bases, interior loops and bulges at most 30
    (ViennaRNA's ``MAXLOOP``), and with lonely pairs forbidden every pair a stacked
    neighbour.
    """
    partners = [int(p) for p in pair_table(structure)]
    found = []
    for i, j in ((i, j) for i, j in enumerate(partners) if j > i):
        branches, unpaired = loop_contents(partners, i, j)
        where = (i + 1, j + 1)
        if not branches and unpaired < MIN_HAIRPIN:
            found.append(
                Obstacle(
                    "hairpin-too-short",
                    where,
                    f"pair {i + 1}-{j + 1} closes a hairpin of {unpaired} unpaired bases "
                    f"(at least {MIN_HAIRPIN} fold)",
                )
            )
        elif len(branches) == 1 and unpaired > MAX_INTERIOR_LOOP:
            k, q = branches[0]
            found.append(
                Obstacle(
                    "loop-too-long",
                    where,
                    f"pair {i + 1}-{j + 1} and pair {k + 1}-{q + 1} enclose an interior loop "
                    f"of {unpaired} unpaired bases (ViennaRNA folds at most "
                    f"{MAX_INTERIOR_LOOP})",
                )
            )
        if energy is not None and energy.no_lonely_pairs and is_lonely(partners, i, j):
            found.append(
                Obstacle(
                    "lonely-pair",
                    where,
                    f"pair {i + 1}-{j + 1} is lonely, and lonely pairs are forbidden",
                )
            )
    return found


@dataclass(frozen=True)
class CompetitorResult:
    """The outcome of testing one competitor against the target.

    Attributes:
        proved: E(competitor) < E(target) for every allowed sequence.
        margin: The smallest E(target) - E(competitor) seen, kcal/mol (over every
            assignment when ``proved``; up to the first escape otherwise), or None when
            nothing was evaluated.
        sites: The 0-based sites the difference depends on.
        assignments: How many letter assignments were evaluated (component by
            component, see :func:`competitor_margin`).
        escape: An assignment the competitor does not beat (a full sequence), or None.
        skipped: Too many assignments to enumerate (nothing was evaluated).
    """

    proved: bool
    margin: float | None
    sites: tuple[int, ...]
    assignments: int
    escape: str | None = None
    skipped: bool = False


def _letters(constraint: str | None, site: int) -> frozenset[str]:
    return IUPAC[constraint[site]] if constraint else IUPAC["N"]


def _site_groups(
    sites: list[int], partners: list[int], constraint: str | None
) -> list[tuple[tuple[int, ...], list[str]]]:
    """The enumerated units and their options.

    A target pair with both sites listed takes the canonical pairs the constraint allows,
    a single site its letters; a single site's partner outside the list is filled in when
    the assignment is written.
    """
    listed = set(sites)
    groups: list[tuple[tuple[int, ...], list[str]]] = []
    for site in sites:
        partner = partners[site]
        if partner in listed and partner < site:
            continue
        if partner in listed:
            options = [
                p
                for p in CANONICAL_PAIRS
                if p[0] in _letters(constraint, site) and p[1] in _letters(constraint, partner)
            ]
            groups.append(((site, partner), options))
        else:
            groups.append(((site,), sorted(_letters(constraint, site))))
    return groups


def _filler(partners: list[int], constraint: str | None) -> tuple[str, ...]:
    """A sequence whose target pairs are canonical, following the constraint where it can.

    The letters of sites outside the enumerated ones do not matter to the difference.
    """
    letters = []
    for site, partner in enumerate(partners):
        allowed = sorted(_letters(constraint, site))
        if partner < 0:
            letters.append("A" if "A" in allowed else allowed[0])
        elif partner > site:
            options = [
                p
                for p in CANONICAL_PAIRS
                if p[0] in allowed and p[1] in _letters(constraint, partner)
            ]
            letters.append((options or ["GC"])[0][0])
        else:
            letters.append("")
    for site, partner in enumerate(partners):
        if 0 <= partner < site:
            options = [p for p in CANONICAL_PAIRS if p[0] == letters[partner]]
            allowed = _letters(constraint, site)
            pick = [p for p in options if p[1] in allowed] or options
            letters[site] = pick[0][1]
    return tuple(letters)


@dataclass(frozen=True)
class _Prepared:
    """What every competitor of one target needs: computed once per target."""

    structure: str
    partners: list[int]
    terms: dict[tuple, frozenset[int]]
    filler: tuple[str, ...]
    constraint: str | None


def _prepare(target: str, constraint: str | None) -> _Prepared:
    """Check the target and its constraint, and compute what every competitor needs.

    Raises:
        ValueError: a malformed target, or a constraint of another length.
    """
    parse_structure(target, source="target")
    if constraint is not None and len(constraint) != len(target):
        raise ValueError(
            f"constraint ({len(constraint)} codes) and target ({len(target)} nt) differ"
        )
    partners = [int(p) for p in pair_table(target)]
    filler = _filler(partners, constraint)
    return _Prepared(target, partners, loop_terms(target), filler, constraint)


def _write(
    letters: list[str],
    groups: list[tuple[tuple[int, ...], list[str]]],
    combo: tuple[str, ...],
    partners: list[int],
) -> None:
    """Write one assignment; a single site's target partner is made to pair with it."""
    for (group, _), choice in zip(groups, combo):
        if len(group) == 2:
            letters[group[0]], letters[group[1]] = choice[0], choice[1]
            continue
        site = group[0]
        letters[site] = choice
        partner = partners[site]
        if partner >= 0 and letters[site] + letters[partner] not in _PAIRS:
            letters[partner] = _COMPLEMENT[choice]


def _pairs_canonical(letters: list[str], pairs: list[tuple[int, int]]) -> bool:
    return all(letters[i] + letters[j] in _PAIRS for i, j in pairs)


def competitor_margin(
    target: str,
    competitor: str,
    energy: EnergyModel | None = None,
    constraint: str | None = None,
    max_assignments: int = DEFAULT_MAX_ASSIGNMENTS,
) -> CompetitorResult:
    """Test whether ``competitor`` has a lower free energy than ``target`` for every sequence.

    Args:
        target: The target structure.
        competitor: Another structure of the same length, inside the folding algorithm's
            search space (see :func:`search_space_obstacles`; outside it, it would prove
            nothing).
        energy: The energy model.
        constraint: IUPAC codes the sequences must follow (None: any sequence).
        max_assignments: Evaluate at most this many letter assignments (the sum over
            the independent components of their enumerations or, where cheaper, their
            variable eliminations); more: skipped.

    Returns:
        The outcome; ``proved`` only when the minimum over every allowed assignment is
        known and the competitor wins it strictly (a tie leaves the target a possible MFE
        structure).

    Raises:
        ValueError: a malformed structure, the structures or the constraint differ in
            length, or the competitor lies outside the search space.
    """
    prepared = _prepare(target, constraint)
    _check_competitor(competitor, len(target))
    outside = search_space_obstacles(competitor, energy)
    if outside:
        raise ValueError(
            f"the competitor is no structure the MFE algorithm can return, so it proves "
            f"nothing: {outside[0].message}"
        )
    return _margin(prepared, competitor, energy, max_assignments)


def _check_competitor(competitor: str, length: int) -> None:
    """Refuse a competitor of another length than the target's, or a malformed one."""
    if len(competitor) != length:
        raise ValueError(
            f"target ({length} nt) and competitor ({len(competitor)}) differ in length"
        )
    parse_structure(competitor, source="competitor")


def _margin(
    target: _Prepared, competitor: str, energy: EnergyModel | None, max_assignments: int
) -> CompetitorResult:
    """:func:`competitor_margin` for a prepared target and a checked competitor.

    ``E(target) - E(competitor)`` is a sum of the unshared terms, each a function of its
    own sites, so the sites fall into components that no term joins (e.g. the branches of
    a multiloop a lonely pair's opening merges into the loop outside it). The minimum of
    the sum is the sum of the components' minima, each found with the other components
    held at one assignment: a small component by enumeration, a large one by min-sum
    variable elimination over its terms (:mod:`envs.min_sum`), whichever evaluates fewer
    assignments. The minimum is then checked on the sequence that puts every component at
    its best.
    """
    rival_terms = loop_terms(competitor)
    sites = tuple(_unshared_sites(target.terms, rival_terms))
    groups = _site_groups(list(sites), target.partners, target.constraint)
    terms = _term_groups(groups, target.terms, rival_terms)
    plans = [_plan(groups, component, terms) for component in _components(len(groups), terms)]
    if sum(plan.cost for plan in plans) > max_assignments:
        return CompetitorResult(False, None, sites, 0, skipped=True)
    search = _Differences(target, competitor, groups, energy)
    try:
        at_base = search.value({})
        best, margin = list(search.base), at_base
        for plan in plans:
            lowest, choices = search.minimum(plan)
            margin += lowest - at_base
            search.write(best, plan.groups, choices)
    except _Escape as escape:
        return CompetitorResult(False, escape.smallest, sites, search.evaluated, escape.sequence)
    combined = search.difference(best)
    return _checked(margin, combined, best, sites, search.evaluated)


@dataclass(frozen=True)
class _Plan:
    """How one component is minimised.

    Attributes:
        groups: The component's groups (indices into the competitor's groups).
        sizes: Each group's number of options.
        supports: The unshared terms' groups (local indices into ``groups``).
        eliminate: Variable elimination (True) or enumeration.
        cost: Assignments evaluated.
    """

    groups: tuple[int, ...]
    sizes: tuple[int, ...]
    supports: tuple[tuple[int, ...], ...]
    eliminate: bool
    cost: int


def _plan(
    groups: list[tuple[tuple[int, ...], list[str]]],
    component: list[int],
    terms: list[frozenset[int]],
) -> _Plan:
    """Enumerate ``component`` or eliminate its groups, whichever evaluates fewer."""
    local = {g: k for k, g in enumerate(component)}
    supports = [
        tuple(sorted(local[g] for g in members))
        for members in terms
        if members and members <= local.keys()
    ]
    sizes = tuple(len(groups[g][1]) for g in component)
    product = math.prod(sizes)
    cost = anchored_cost(supports, sizes)
    if cost < product and elimination_width(supports, sizes) <= DEFAULT_MAX_TABLE:
        return _Plan(tuple(component), sizes, tuple(supports), True, cost)
    return _Plan(tuple(component), sizes, tuple(supports), False, product)


class _Escape(Exception):
    """An assignment the competitor does not beat (or cannot form on)."""

    def __init__(self, sequence: str, smallest: float | None):
        super().__init__(sequence)
        self.sequence = sequence
        self.smallest = smallest


class _Differences:
    """E(target) - E(competitor) at the base assignment with some groups changed.

    The base gives every group its first option. Raises :class:`_Escape` at the first
    assignment the competitor does not beat strictly, or cannot form.
    """

    def __init__(
        self,
        target: _Prepared,
        competitor: str,
        groups: list[tuple[tuple[int, ...], list[str]]],
        energy: EnergyModel | None,
    ):
        self.target = target
        self.competitor = competitor
        # the target's pairs are canonical in every assignment written: only the
        # competitor's other pairs can fail to form
        self.new_pairs = [
            (i, int(j))
            for i, j in enumerate(pair_table(competitor))
            if j > i and target.partners[i] != j
        ]
        self.groups = groups
        self.energy = energy
        self.base = list(target.filler)
        _write(self.base, groups, tuple(options[0] for _, options in groups), target.partners)
        self.evaluated = 0
        self.smallest: float | None = None

    def difference(self, letters: list[str]) -> float | None:
        """E(target) - E(competitor) of ``letters``; None when the competitor cannot form."""
        if not _pairs_canonical(letters, self.new_pairs):
            return None
        structures = [self.target.structure, self.competitor]
        ours, theirs = structure_energies("".join(letters), structures, self.energy)
        return ours - theirs

    def write(self, letters: list[str], groups: tuple[int, ...], choices: list[int]) -> None:
        """Give each of ``groups`` its option of index ``choices[k]`` (in place)."""
        chosen = [self.groups[g] for g in groups]
        combo = tuple(options[c] for (_, options), c in zip(chosen, choices))
        _write(letters, chosen, combo, self.target.partners)

    def value(self, changed: dict[int, int], groups: tuple[int, ...] = ()) -> float:
        """The difference with ``groups[k]`` set to option ``changed[k]`` (raises the escape)."""
        letters = list(self.base)
        if changed:
            keys = sorted(changed)
            self.write(letters, tuple(groups[k] for k in keys), [changed[k] for k in keys])
        self.evaluated += 1
        value = self.difference(letters)
        if value is not None:
            self.smallest = value if self.smallest is None else min(self.smallest, value)
        if value is None or value <= _STRICT:
            raise _Escape("".join(letters), self.smallest)
        return value

    def minimum(self, plan: _Plan) -> tuple[float, list[int]]:
        """The component's lowest difference (the others at the base) and its choices."""
        if plan.eliminate:
            factors, _ = anchored_factors(
                lambda changed: self.value(changed, plan.groups), plan.supports, plan.sizes
            )
            found = minimise(factors, plan.sizes)
            assert found is not None  # the plan checked the width
            return found
        lowest, best = math.inf, [0] * len(plan.sizes)
        for index in itertools.product(*(range(n) for n in plan.sizes)):
            value = self.value({k: c for k, c in enumerate(index) if c}, plan.groups)
            if value < lowest:
                lowest, best = value, list(index)
        return lowest, best


def _checked(
    margin: float, combined: float | None, best: list[str], sites: tuple[int, ...], count: int
) -> CompetitorResult:
    """The result once every component is enumerated, if the combined best agrees.

    ``combined`` is the difference of the sequence with every component at its best; it
    equals ``margin`` when the terms decompose as :func:`loop_terms` says (checked against
    ViennaRNA by the tests). Were it ever to differ, nothing is proved.
    """
    if combined is None or combined <= _STRICT:
        return CompetitorResult(False, combined, sites, count, escape="".join(best))
    if abs(combined - margin) > _STRICT:
        return CompetitorResult(False, min(combined, margin), sites, count)
    return CompetitorResult(True, combined, sites, count)


def _term_groups(
    groups: list[tuple[tuple[int, ...], list[str]]],
    ours: dict[tuple, frozenset[int]],
    theirs: dict[tuple, frozenset[int]],
) -> list[frozenset[int]]:
    """The groups (indices) each unshared term depends on."""
    group_of = {site: g for g, (group, _) in enumerate(groups) for site in group}
    return [
        frozenset(group_of[s] for s in ours.get(key, theirs.get(key, frozenset())))
        for key in ours.keys() ^ theirs.keys()
    ]


def _components(count: int, terms: list[frozenset[int]]) -> list[list[int]]:
    """The groups ``0 .. count - 1`` in sets that no term joins, each set sorted."""
    parent = list(range(count))

    def root(g: int) -> int:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    for members in terms:
        ordered = sorted(members)
        for g in ordered[1:]:
            parent[root(g)] = root(ordered[0])
    components: dict[int, list[int]] = {}
    for g in range(count):
        components.setdefault(root(g), []).append(g)
    return list(components.values())


def _with_pairs(structure: str, removed: Iterable[int], added: Iterable[tuple[int, int]]) -> str:
    letters = list(structure)
    for site in removed:
        letters[site] = "."
    for i, j in added:
        letters[i], letters[j] = "(", ")"
    return "".join(letters)


def _local_competitors(target: str) -> Iterator[tuple[tuple[int, int], str]]:
    """The target with one pair opened, a short helix opened, or one pair end slid.

    A helix of up to :data:`MAX_OPENED_HELIX` stacked pairs is opened whole; a pair end
    slides by one site onto an unpaired neighbour only, which keeps the structure nested.
    """
    partners = [int(p) for p in pair_table(target)]
    n = len(partners)
    for i, j in ((i, j) for i, j in enumerate(partners) if j > i):
        yield (i, j), _with_pairs(target, (i, j), ())
        helix_starts = i == 0 or j + 1 >= n or partners[i - 1] != j + 1
        stacked = 0  # a short helix starting here, opened whole
        while stacked + 1 < MAX_OPENED_HELIX and partners[i + stacked + 1] == j - stacked - 1:
            stacked += 1
            helix_ends = partners[i + stacked + 1] != j - stacked - 1
            if helix_starts and helix_ends:
                opened = [s for k in range(stacked + 1) for s in (i + k, j - k)]
                yield (i, j), _with_pairs(target, opened, ())
        for a, b in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)):
            moved = a if a != i else b
            if not (0 <= moved < n and partners[moved] < 0 and a < b):
                continue
            # sliding onto an unpaired neighbour keeps the structure nested
            yield (i, j), _with_pairs(target, (i, j), ((a, b),))


@dataclass(frozen=True)
class DesignabilityReport:
    """What :func:`check_designability` found.

    Attributes:
        target: The target structure.
        obstacles: The proofs found (empty: no proof; the target may still be
            undesignable).
        competitors: How many competitors were tested.
        skipped: How many had too many assignments to enumerate.
    """

    target: str
    obstacles: tuple[Obstacle, ...] = field(default_factory=tuple)
    competitors: int = 0
    skipped: int = 0

    @property
    def undesignable(self) -> bool:
        """A proof was found: no sequence (within the constraint) has the target as MFE."""
        return bool(self.obstacles)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "undesignable": self.undesignable,
            "obstacles": [o.to_dict() for o in self.obstacles],
            "competitors_tested": self.competitors,
            "competitors_skipped": self.skipped,
        }


def check_designability(
    target: str,
    energy: EnergyModel | None = None,
    constraint: str | None = None,
    competitors: Iterable[str] = (),
    max_assignments: int = DEFAULT_MAX_ASSIGNMENTS,
    first_only: bool = False,
) -> DesignabilityReport:
    """Look for proofs that ``target`` is the MFE structure of no (allowed) sequence.

    Args:
        target: A valid dot-bracket structure.
        energy: The energy model (None: ViennaRNA's default).
        constraint: IUPAC codes the sequences must follow (None: any sequence).
        competitors: Further structures of the target's length to test (e.g. the MFE
            structures of the best designs a search found); those outside the search
            space are ignored.
        max_assignments: Per competitor (see :func:`competitor_margin`).
        first_only: Stop at the first proof.

    Returns:
        The report; one obstacle per pair at fault at most (its largest margin).

    Raises:
        ValueError: a malformed structure, or a competitor or the constraint of another
            length.
    """
    obstacles = search_space_obstacles(target, energy)
    if obstacles and first_only:
        return DesignabilityReport(target, tuple(obstacles[:1]))
    prepared = _prepare(target, constraint)
    given = list(competitors)
    for rival in given:  # the caller's: malformed or of another length is an error
        _check_competitor(rival, len(target))
    tested = skipped = 0
    best: dict[tuple[int, int] | None, Obstacle] = {}
    candidates: list[tuple[tuple[int, int] | None, str]] = list(_local_competitors(target))
    candidates += [(None, c) for c in given]
    seen = {target}
    for pair, rival in candidates:
        if rival in seen or search_space_obstacles(rival, energy):
            continue
        seen.add(rival)
        tested += 1
        result = _margin(prepared, rival, energy, max_assignments)
        skipped += result.skipped
        if not result.proved or result.margin is None:
            continue
        obstacle = _competitor_obstacle(target, pair, rival, result.margin)
        if obstacle.pair in best and (best[obstacle.pair].margin or 0.0) >= result.margin:
            continue
        best[obstacle.pair] = obstacle
        if first_only:
            break
    return DesignabilityReport(target, tuple(obstacles) + tuple(best.values()), tested, skipped)


def outer_pair_obstacle(
    structure: str,
    energy: EnergyModel | None = None,
    constraint: str | None = None,
    max_assignments: int = DEFAULT_MAX_ASSIGNMENTS,
) -> Obstacle | None:
    """A proof that a structure's first and last sites pair in no MFE structure of it.

    Meant for a piece of a larger target (a substructure closed by the outermost pair of
    a helix) folded on its own. Alone, the piece's closing helix lies in the exterior
    loop, where opening it costs nothing, so a short closing helix often cannot form
    alone although it can in the whole target, whose loop around it makes opening it
    costly. Only the local competitors that open the outermost pair are tested (the pair
    alone, its helix whole when short, an end slid; see :func:`check_designability`),
    a few competitor tests instead of a full check.

    Args:
        structure: A valid dot-bracket structure.
        energy: The energy model (None: ViennaRNA's default).
        constraint: IUPAC codes the sequences must follow (None: any sequence).
        max_assignments: Per competitor (see :func:`competitor_margin`).

    Returns:
        The first obstacle found, or None: the first and last sites do not pair, or no
        competitor that opens their pair is lower for every sequence.

    Raises:
        ValueError: a malformed structure, or a constraint of another length.
    """
    prepared = _prepare(structure, constraint)
    outer = (0, len(structure) - 1)
    for pair, rival in _local_competitors(structure):
        if pair != outer:  # the outer pair's competitors come first, if it is a pair
            break
        if search_space_obstacles(rival, energy):
            continue
        result = _margin(prepared, rival, energy, max_assignments)
        if result.proved and result.margin is not None:
            return _competitor_obstacle(structure, pair, rival, result.margin)
    return None


def _competitor_obstacle(
    target: str, pair: tuple[int, int] | None, rival: str, margin: float
) -> Obstacle:
    """The obstacle a proved competitor gives (``pair``: 0-based, the target's pair at fault)."""
    where = None if pair is None else (pair[0] + 1, pair[1] + 1)
    what = (
        f"pair {where[0]}-{where[1]} cannot be an MFE pair"
        if where
        else "the target cannot be an MFE structure"
    )
    return Obstacle(
        "competitor",
        where,
        f"{what}: the structure with {_describe_move(target, rival)} has a free energy "
        f"at least {margin:.2f} kcal/mol lower for every sequence",
        competitor=rival,
        margin=margin,
    )


def _describe_move(target: str, rival: str) -> str:
    ours = {(i, j) for i, j in enumerate(pair_table(target)) if j > i}
    theirs = {(i, j) for i, j in enumerate(pair_table(rival)) if j > i}
    parts = []
    gone = sorted(ours - theirs)
    new = sorted(theirs - ours)
    if gone:
        parts.append("pair" + ("s " if len(gone) > 1 else " ") + _pairs_text(gone) + " open")
    if new:
        parts.append("pair" + ("s " if len(new) > 1 else " ") + _pairs_text(new) + " formed")
    return " and ".join(parts) or "the same pairs"


def _pairs_text(pairs: list[tuple[int, int]]) -> str:
    shown = ", ".join(f"{i + 1}-{j + 1}" for i, j in pairs[:5])
    return shown + (f" (+{len(pairs) - 5})" if len(pairs) > 5 else "")

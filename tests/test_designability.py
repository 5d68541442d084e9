"""Proofs of undesignability (envs/designability.py): sound against ViennaRNA's evaluation."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from envs.designability import (
    CANONICAL_PAIRS,
    check_designability,
    competitor_margin,
    loop_terms,
    outer_pair_obstacle,
    search_space_obstacles,
    term_sites,
)
from envs.dot_bracket import pair_table
from envs.folding import (
    EnergyModel,
    fold,
    sample_structures,
    special_hairpins,
    structure_energies,
)

#: Rfam-Taneda target 20's 3' end: a terminal pair over a one-base bulge.
BULGED_END = "....(.((((((......)))))))"


def _random_sequence(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("ACGU") for _ in range(length))


def _pairs(structure: str) -> set[tuple[int, int]]:
    return {(i, int(j)) for i, j in enumerate(pair_table(structure)) if j > i}


def _rewrite_outside(rng: random.Random, sequence: str, target: str, keep: set[int]) -> str:
    """New random letters on every site not in ``keep``, the target's pairs kept canonical."""
    letters = list(sequence)
    for i, j in enumerate(pair_table(target)):
        if j > i and i not in keep and j not in keep:
            letters[i], letters[j] = rng.choice(CANONICAL_PAIRS)
        elif j < 0 and i not in keep:
            letters[i] = rng.choice("ACGU")
    return "".join(letters)


def _structure_pairs(rng: random.Random, length: int) -> tuple[str, str, str]:
    """A sequence, its MFE structure and a competitor: a Boltzmann sample or a local move."""
    sequence = _random_sequence(rng, length)
    target = fold(sequence)[0]
    if rng.random() < 0.5 or not _pairs(target):
        competitor = sample_structures(sequence, 1, rng.randrange(2**31), beta_scale=1.5)[0]
    else:
        i, j = rng.choice(sorted(_pairs(target)))
        letters = list(target)
        letters[i] = letters[j] = "."
        competitor = "".join(letters)
    return sequence, target, competitor


@pytest.mark.parametrize("dangles", [2, 0])
def test_difference_depends_only_on_the_unshared_terms_sites(dangles: int) -> None:
    # The soundness of every proof: E(target) - E(competitor) must not change when any
    # site outside term_sites changes (with both structures' pairs canonical).
    energy = EnergyModel(dangles=dangles)
    rng = random.Random(dangles)
    checked = 0
    for _ in range(60):
        sequence, target, competitor = _structure_pairs(rng, rng.randrange(40, 140))
        if target == competitor or search_space_obstacles(competitor):
            continue  # the proofs never use a competitor the MFE algorithm cannot return
        sites = set(term_sites(target, competitor))
        assert sites, "structures that differ must differ in some term"
        before = structure_energies(sequence, [target, competitor], energy)
        for _ in range(5):
            changed = _rewrite_outside(rng, sequence, target, sites)
            after = structure_energies(changed, [target, competitor], energy)
            assert after[0] - after[1] == pytest.approx(before[0] - before[1], abs=0.004), (
                target,
                competitor,
                sequence,
                changed,
            )
        checked += 1
    assert checked >= 40


def test_every_loop_is_a_term_and_sites_lie_within_the_loop() -> None:
    structure = "((((...((...))..((....))..))))..((.(.....).))"
    terms = loop_terms(structure)
    kinds = sorted(key[0] for key in terms)
    assert kinds.count("hairpin") == 3
    assert kinds.count("multi") == 1 and kinds.count("multi-branch") == 2
    assert kinds.count("exterior") == 2
    # a hairpin of 3 (special triloops) depends on all its sites, one of 5 only on its
    # closing pair and first mismatch; a 1x1 interior loop on all its sites
    assert terms[("hairpin", 8, 12)] == frozenset(range(8, 13))
    assert terms[("hairpin", 35, 41)] == frozenset({35, 41, 36, 40})
    assert terms[("interior", 33, 43, 35, 41)] == frozenset(range(33, 36)) | frozenset(
        range(41, 44)
    )


def test_special_hairpins_make_every_loop_letter_count() -> None:
    # Random letters rarely spell a special tetraloop, so the random check above would not
    # notice a decomposition that left a tetraloop's letters out.
    target, opened = "((((....))))", "(((......)))"
    assert set(range(3, 9)) <= set(term_sites(target, opened))
    loop = special_hairpins()[4][0]  # closing pair and four loop letters
    plain = "GGG" + loop[0] + "AAAA" + loop[-1] + "CCC"
    special = "GGG" + loop + "CCC"
    differences = set()
    for sequence in (plain, special):
        ours, theirs = structure_energies(sequence, [target, opened])
        differences.add(round(ours - theirs, 2))
    assert len(differences) == 2


def test_taneda_20s_bulged_terminal_pair_is_proved_undesignable() -> None:
    report = check_designability(BULGED_END)
    assert report.undesignable
    obstacle = report.obstacles[0]
    assert obstacle.kind == "competitor" and obstacle.pair == (5, 25)
    assert obstacle.margin == pytest.approx(0.6, abs=1e-6)
    assert "pair 5-25" in obstacle.message and "0.60 kcal/mol" in obstacle.message
    # the proof is checkable: the competitor wins on random designs too
    rng = random.Random(3)
    for _ in range(50):
        sequence = _rewrite_outside(rng, "A" * len(BULGED_END), BULGED_END, set())
        ours, theirs = structure_energies(sequence, [BULGED_END, obstacle.competitor])
        assert ours - theirs >= obstacle.margin - 1e-6


# Slow (~13 s): the default tier proves a target undesignable in the Rfam-Taneda 20 test.
@pytest.mark.slow
def test_a_short_helix_opened_whole_can_be_the_proof() -> None:
    # Eterna100 V1 puzzle 57 (designed under ViennaRNA 1.8; V2 changed it): its outer
    # two-pair helix loses to the open chain around the multiloop, whatever the sequence;
    # no single pair opened or slid proves it.
    target = "((.(..(.(....).(....).)..).(....).))"
    report = check_designability(target, max_assignments=300_000)
    opened = [o for o in report.obstacles if o.competitor == ".." + target[2:-2] + ".."]
    assert opened and opened[0].pair == (1, 36) and opened[0].margin == pytest.approx(1.6)
    assert "pairs 1-36, 2-35 open" in opened[0].message


#: A multiloop closed by a two-pair helix (32 nt): alone, the helix loses to its own opening
#: for every sequence; inside a one-by-one interior loop of a larger target it can form.
LOOSE_PIECE = "((.((((....))))..((((....)))).))"


def test_the_outer_pair_obstacle_is_the_full_checks_proof_at_the_outer_pair() -> None:
    obstacle = outer_pair_obstacle(LOOSE_PIECE)
    assert obstacle is not None and obstacle.kind == "competitor"
    assert obstacle.pair == (1, len(LOOSE_PIECE))
    assert obstacle.competitor == ".." + LOOSE_PIECE[2:-2] + ".."  # the helix opened whole
    full = check_designability(LOOSE_PIECE)
    assert [(o.pair, o.competitor) for o in full.obstacles] == [
        (obstacle.pair, obstacle.competitor)
    ]
    assert obstacle.margin == pytest.approx(full.obstacles[0].margin)
    assert obstacle.message == full.obstacles[0].message
    rng = random.Random(5)  # the proof holds on random designs
    for _ in range(50):
        sequence = _rewrite_outside(rng, "A" * len(LOOSE_PIECE), LOOSE_PIECE, set())
        ours, theirs = structure_energies(sequence, [LOOSE_PIECE, obstacle.competitor])
        assert ours - theirs >= obstacle.margin - 1e-6
    lonely = outer_pair_obstacle("(...((((....))))...)")  # a lonely pair, opened alone
    assert lonely is not None and lonely.competitor == "....((((....))))...."


def test_the_outer_pair_obstacle_looks_at_the_outer_pair_only() -> None:
    # held by a four-pair helix, the piece's loose helix inside is the full check's proof
    inner = "((((...." + LOOSE_PIECE + "....((((....))))...))))"
    assert outer_pair_obstacle(inner) is None
    assert [o.pair for o in check_designability(inner).obstacles] == [(9, 40)]
    # in a one-by-one interior loop the loose helix is no obstacle at all
    held = "((((((." + LOOSE_PIECE + ".))))))"
    assert outer_pair_obstacle(held) is None and not check_designability(held).undesignable
    assert outer_pair_obstacle("." + LOOSE_PIECE) is None  # the first site is unpaired
    assert outer_pair_obstacle("((((....))))((((....))))") is None  # no first-last pair
    assert outer_pair_obstacle("((((((....))))))") is None
    with pytest.raises(ValueError, match="constraint"):
        outer_pair_obstacle(LOOSE_PIECE, constraint="NN")
    with pytest.raises(ValueError, match="never closed"):
        outer_pair_obstacle("((....)")


def test_the_outer_pair_obstacle_uses_competitors_the_fold_can_return(monkeypatch) -> None:
    """With lonely pairs forbidden, opening one pair of a two-pair helix proves nothing."""
    from envs import designability

    real = designability._margin

    def proves_all(target, competitor, energy, max_assignments):
        found = real(target, competitor, energy, max_assignments)
        return designability.CompetitorResult(True, 1.0, found.sites, found.assignments)

    monkeypatch.setattr(designability, "_margin", proves_all)
    first = outer_pair_obstacle(LOOSE_PIECE)  # any competitor proves: the first is taken
    assert first is not None and first.competitor == ".(" + LOOSE_PIECE[2:-2] + ")."
    strict = outer_pair_obstacle(LOOSE_PIECE, EnergyModel(no_lonely_pairs=True))
    assert strict is not None and strict.competitor == ".." + LOOSE_PIECE[2:-2] + ".."


def test_designable_targets_never_get_a_proof() -> None:
    # MFE structures of random sequences are designable: a proof here would be a bug.
    rng = random.Random(11)
    for _ in range(25):
        sequence = _random_sequence(rng, rng.randrange(30, 120))
        target = fold(sequence)[0]
        report = check_designability(target)
        assert not report.undesignable, (sequence, target, report.obstacles)
        assert report.competitors > 0 or "(" not in target


def test_search_space_obstacles() -> None:
    assert search_space_obstacles("((((....))))") == []
    short = search_space_obstacles("((..))")
    assert [o.kind for o in short] == ["hairpin-too-short"] and short[0].pair == (2, 5)
    long_loop = "(" + "." * 31 + "((....))" + ")"
    found = search_space_obstacles(long_loop)
    assert [o.kind for o in found] == ["loop-too-long"]
    assert "31 unpaired" in found[0].message
    assert search_space_obstacles("(" + "." * 30 + "((....))" + ")") == []
    lonely = "..(....).."
    assert search_space_obstacles(lonely) == []
    found = search_space_obstacles(lonely, EnergyModel(no_lonely_pairs=True))
    assert [o.kind for o in found] == ["lonely-pair"] and found[0].pair == (3, 8)
    assert check_designability(long_loop).undesignable


def test_a_constraint_can_make_a_target_undesignable() -> None:
    # A 3-pair stem that may only use A-U pairs never beats the open chain.
    target, open_chain = "(((....)))", "." * 10
    free = competitor_margin(target, open_chain, max_assignments=6**3 * 4**4)
    assert not free.proved and free.escape is not None
    ours, theirs = structure_energies(free.escape, [target, open_chain])
    assert ours - theirs <= 0.005
    weak = competitor_margin(target, open_chain, constraint="WWWNNNNWWW")
    assert weak.proved and weak.margin is not None and weak.margin > 0
    # eliminated term by term: fewer evaluations than the 2**3 * 4**4 joint assignments
    assert 0 < weak.assignments < 2**3 * 4**4
    report = check_designability(target, constraint="WWWNNNNWWW", competitors=[open_chain])
    assert report.undesignable
    # the open chain is also the target with its helix opened, so it is found as such
    assert any(o.competitor == open_chain for o in report.obstacles)


#: A generated dev target (docs/results/i14h/dev/dev41.txt, gen-000143; no benchmark's):
#: a lonely pair closing a multiloop whose opening changes 14 sites' terms.
LONELY_JUNCTION = "....(.......((((((((.....))))))))...((......))...)."


def _short_stems(rng: random.Random, length: int) -> str:
    """A random structure of 1-3-pair stems and 3-6-site loops (often undesignable)."""
    if length < 5:
        return "." * length
    stem = min(rng.randint(1, 3), (length - 3) // 2)
    inside = length - 2 * stem
    if inside <= 9 or rng.random() < 0.3:
        return "(" * stem + "." * inside + ")" * stem
    split = rng.randrange(5, inside - 4)
    left = _short_stems(rng, split - 1)
    right = _short_stems(rng, inside - split - 1)
    return "(" * stem + "." + left + right + "." + ")" * stem


def _opened(structure: str, pairs: list[tuple[int, int]]) -> str:
    letters = list(structure)
    for i, j in pairs:
        letters[i] = letters[j] = "."
    return "".join(letters)


def _forms(sequence: str, structure: str) -> bool:
    return all(
        sequence[i] + sequence[j] in CANONICAL_PAIRS
        for i, j in enumerate(pair_table(structure))
        if j > i
    )


def _enumerated_minimum(
    target: str, competitor: str, limit: int, energy: EnergyModel | None = None
) -> float | None:
    """min over every joint assignment of E(target) - E(competitor), by brute force.

    ``-inf`` when some assignment cannot form the competitor (then nothing is proved);
    None when there are more than ``limit`` assignments.
    """
    sites = term_sites(target, competitor)
    partners = [int(p) for p in pair_table(target)]
    units = [s for s in sites if not (partners[s] in sites and partners[s] < s)]
    options = [CANONICAL_PAIRS if partners[s] in sites else "ACGU" for s in units]
    if math.prod(len(o) for o in options) > limit:
        return None
    filler = "".join("G" if j > i else "C" if j >= 0 else "A" for i, j in enumerate(partners))
    lowest = math.inf
    for combo in itertools.product(*options):
        letters = list(filler)
        for site, value in zip(units, combo):
            letters[site] = value[0]
            if len(value) == 2:
                letters[partners[site]] = value[1]
            elif partners[site] >= 0:
                letters[partners[site]] = {"A": "U", "C": "G", "G": "C", "U": "A"}[value]
        sequence = "".join(letters)
        if not _forms(sequence, competitor):
            return -math.inf
        ours, theirs = structure_energies(sequence, [target, competitor], energy)
        lowest = min(lowest, ours - theirs)
    return lowest


@pytest.mark.parametrize("dangles", [2, 0])
def test_the_component_minimum_is_the_joint_minimum(dangles: int) -> None:
    # The minimum over independent components (each enumerated or eliminated) is the
    # minimum over the joint enumeration: checked on random targets against their local
    # competitors small enough to enumerate.
    energy = EnergyModel(dangles=dangles)
    rng = random.Random(5 + dangles)
    checked = proved = 0
    while checked < 20:
        target = _short_stems(rng, rng.randrange(24, 40))
        pairs = _pairs(target)
        rivals = {_opened(target, [(i, j)]) for i, j in pairs} | {
            _opened(target, [(i, j), (i + 1, j - 1)]) for i, j in pairs if (i + 1, j - 1) in pairs
        }
        for rival in sorted(rivals - {target}):
            if search_space_obstacles(rival):
                continue
            expected = _enumerated_minimum(target, rival, 6**2 * 4**4, energy)
            if expected is None:
                continue
            result = competitor_margin(target, rival, energy)
            checked += 1
            assert result.proved == (expected > 0.005), (target, rival, expected, result)
            if result.proved:
                proved += 1
                assert result.margin == pytest.approx(expected, abs=1e-6)
            else:  # the escape is one: the competitor cannot form, or does not win
                assert result.escape is not None
                ours, theirs = structure_energies(result.escape, [target, rival], energy)
                assert not _forms(result.escape, rival) or ours - theirs <= 0.005
    assert proved >= 3


def test_a_lonely_junction_pair_is_proved_by_components() -> None:
    # Opening pair 5-50 merges its multiloop into the exterior loop: 14 sites, 14 million
    # joint assignments, but three independent components of 1,536, 96 and 96 (fewer
    # still when the largest is eliminated term by term).
    opened = _opened(LONELY_JUNCTION, [(4, 49)])
    result = competitor_margin(LONELY_JUNCTION, opened)
    assert result.proved and 0 < result.assignments <= 1536 + 96 + 96
    assert result.margin == pytest.approx(3.4, abs=1e-6)
    report = check_designability(LONELY_JUNCTION)
    assert report.undesignable and any(o.pair == (5, 50) for o in report.obstacles)
    # the proof is checkable: the competitor wins on random designs by at least the margin
    rng = random.Random(7)
    for _ in range(200):
        sequence = _rewrite_outside(rng, "A" * len(LONELY_JUNCTION), LONELY_JUNCTION, set())
        ours, theirs = structure_energies(sequence, [LONELY_JUNCTION, opened])
        assert ours - theirs >= result.margin - 1e-6
    # a limit below the assignments needed skips the competitor
    limit = result.assignments - 3
    assert competitor_margin(LONELY_JUNCTION, opened, max_assignments=limit).skipped


#: Another generated dev target (dev41's gen-000205): a lonely outer pair whose opening
#: joins a component of 884,736 joint assignments.
LONELY_OUTER = (
    ".(.((((.(((.((..((.......))..)).))).))))......((((.((.....).).))))....((.(((((.((((.."
    "((((((((..........))).)))....))..)))).))))).)).)..."
)


def test_a_component_too_large_to_enumerate_is_eliminated() -> None:
    opened = _opened(LONELY_OUTER, [(1, 132)])
    result = competitor_margin(LONELY_OUTER, opened)
    assert result.proved and result.margin == pytest.approx(2.5, abs=1e-6)
    assert result.assignments < 1000  # against 884,736 (+ 96) by enumeration
    rng = random.Random(9)
    for _ in range(200):
        sequence = _rewrite_outside(rng, "A" * len(LONELY_OUTER), LONELY_OUTER, set())
        ours, theirs = structure_energies(sequence, [LONELY_OUTER, opened])
        assert ours - theirs >= result.margin - 1e-6
    report = check_designability(LONELY_OUTER)
    assert report.undesignable and report.skipped == 0


def test_ties_and_oversized_enumerations_prove_nothing() -> None:
    tie = competitor_margin(BULGED_END, BULGED_END)
    assert not tie.proved and tie.margin == 0
    too_big = competitor_margin(BULGED_END, "." * len(BULGED_END), max_assignments=10)
    assert too_big.skipped and not too_big.proved and too_big.assignments == 0
    report = check_designability(BULGED_END, max_assignments=10)
    assert not report.undesignable and report.skipped > 0


def test_competitors_outside_the_search_space_are_not_used() -> None:
    # the open chain beats the weak stem, but a competitor with a 2-base hairpin is not
    # something the MFE algorithm can return, so it proves nothing
    target = "((((....))))"
    report = check_designability(target, competitors=["(((((..)))))"])
    assert not report.undesignable


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        competitor_margin("((....))", "......")
    with pytest.raises(ValueError, match="constraint"):
        competitor_margin("((....))", "........", constraint="NN")
    with pytest.raises(ValueError, match="competitor: position 1: .* never closed"):
        competitor_margin("((....))", "((.....)")
    with pytest.raises(ValueError, match="proves nothing: pair 2-5 closes a hairpin of 2"):
        competitor_margin("((....))", ".(..)...")
    with pytest.raises(ValueError, match="lonely"):
        competitor_margin("((....))", ".(....).", EnergyModel(no_lonely_pairs=True))
    # the caller's competitors of check_designability: wrong length or malformed
    with pytest.raises(ValueError, match="differ in length"):
        check_designability("((....))", competitors=["...."])
    with pytest.raises(ValueError, match="competitor: position 1: .* never closed"):
        check_designability("((....))", competitors=["((.....)"])
    with pytest.raises(ValueError, match="competitor: position 5"):
        check_designability("((....))", competitors=["(..))..."])


def test_report_serializes() -> None:
    data = check_designability(BULGED_END).to_dict()
    assert data["undesignable"] is True
    assert data["obstacles"][0]["pair"] == [5, 25]
    assert data["obstacles"][0]["margin"] == 0.6
    assert data["competitors_tested"] > 0

import time

import numpy as np
import pytest

from envs.constraints import (
    IUPAC,
    ConstraintError,
    DesignConstraints,
    action_masks,
    check_feasible,
    constraint_report,
    gc_content,
    motif_hits,
    parse_gc,
    parse_iupac,
    parse_motifs,
    random_constraint,
    repair,
    violations,
)
from envs.dot_bracket import InvalidStructureError, Target, pair_table, parse_target_lines
from envs.evaluation import evaluate_design, local_improvement
from envs.folding import hamming, mfe_structure
from envs.rna_design import RnaDesignConfig, RnaDesignEnv, TargetEncoding
from envs.vector import RnaDesignVecEnv

CODES = "".join(IUPAC)
WATSON_CRICK = {"GC", "CG", "AU", "UA"}
WOBBLE = {"GU", "UG"}
PAIRS = ("GC", "CG", "AU", "UA", "GU", "UG")


# ----------------------------------------------------------------------------- helpers


def random_structure(rng, length):
    """A random pseudoknot-free structure with hairpin loops of at least 3 sites."""
    pairs = np.full(length, -1)
    for _ in range(length):
        i = int(rng.integers(length))
        j = int(rng.integers(length))
        i, j = min(i, j), max(i, j)
        while j - i > 3 and pairs[i] < 0 and pairs[j] < 0:
            inside = pairs[i + 1 : j]
            # (i, j) crosses no pair: every pair with one end inside has both ends inside.
            if any(not i < p < j for p in inside[inside >= 0]):
                break
            pairs[i], pairs[j] = j, i
            if rng.random() < 0.2:
                break
            i, j = i + 1, j - 1
    return "".join("." if p < 0 else "(" if p > k else ")" for k, p in enumerate(pairs))


def random_code(rng, structure, share, gu_pairs):
    """A random IUPAC constraint that leaves every pair some base pair."""
    pairs = pair_table(structure)
    allowed = PAIRS if gu_pairs else PAIRS[:4]
    code = list("N" * len(structure))
    for site in range(len(structure)):
        if rng.random() < share:
            code[site] = CODES[int(rng.integers(len(CODES)))]
    for site, partner in enumerate(pairs):
        if site < partner and not any(
            p[0] in IUPAC[code[site]] and p[1] in IUPAC[code[partner]] for p in allowed
        ):
            code[partner] = "N"
    return "".join(code)


def random_design(rng, structure, code=None, gu_pairs=False):
    """A random sequence that pairs every target pair and meets the IUPAC ``code``."""
    pairs = pair_table(structure)
    code = code or "N" * len(structure)
    allowed = PAIRS if gu_pairs else PAIRS[:4]
    chars = [""] * len(structure)
    for site, partner in enumerate(pairs):
        if partner < 0:
            options = sorted(IUPAC[code[site]])
            chars[site] = options[int(rng.integers(len(options)))]
        elif site < partner:
            options = [
                p for p in allowed if p[0] in IUPAC[code[site]] and p[1] in IUPAC[code[partner]]
            ]
            chars[site], chars[partner] = options[int(rng.integers(len(options)))]
    return "".join(chars)


def assert_pairs_complementary(sequence, structure, gu_pairs):
    allowed = WATSON_CRICK | WOBBLE if gu_pairs else WATSON_CRICK
    for site, partner in enumerate(pair_table(structure)):
        if site < partner:
            assert sequence[site] + sequence[partner] in allowed, (sequence, structure, site)


def meets_code(sequence, code):
    return len(sequence) == len(code) and all(s in IUPAC[c] for s, c in zip(sequence, code))


# ----------------------------------------------------------------------------- parsing


def test_parse_iupac_normalizes_case_and_t():
    assert parse_iupac("acgtn") == "ACGUN"
    assert parse_iupac("  NNryswkmbdhvT \n") == "NNRYSWKMBDHVU"


@pytest.mark.parametrize(("text", "position", "letter"), [("ACGX", 4, "X"), ("nnj", 3, "j")])
def test_parse_iupac_names_the_position_of_an_unknown_letter(text, position, letter):
    with pytest.raises(ConstraintError, match=f"position {position}: '{letter}'"):
        parse_iupac(text, source="my.txt")
    with pytest.raises(ConstraintError, match="my.txt"):
        parse_iupac(text, source="my.txt")


def test_parse_iupac_refuses_empty_and_is_a_value_error():
    with pytest.raises(ValueError, match="empty"):
        parse_iupac("   ")
    assert issubclass(ConstraintError, ValueError)


@pytest.mark.parametrize(
    ("text", "expected"), [("0.4:0.6", (0.4, 0.6)), ("0:1", (0.0, 1.0)), ("0.5:0.5", (0.5, 0.5))]
)
def test_parse_gc_accepts_ranges(text, expected):
    assert parse_gc(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text", ["0.7:0.3", "abc", "0.2", "1.5:2", "-0.1:0.5", "nan:0.5", ":", "0.1:0.2:0.3"]
)
def test_parse_gc_refuses_bad_ranges(text):
    with pytest.raises(ConstraintError):
        parse_gc(text)


def test_parse_motifs():
    assert parse_motifs("aaaaa, GGGG ,gaattc") == ("AAAAA", "GGGG", "GAAUUC")
    assert parse_motifs(["RRRR", "rrrr", "NNY"]) == ("RRRR", "NNY")  # duplicates dropped
    with pytest.raises(ConstraintError, match="empty"):
        parse_motifs("AAAA,,GGGG")
    with pytest.raises(ConstraintError, match="'X'"):
        parse_motifs("AAXA")


def test_design_constraints_normalize_and_validate():
    rules = DesignConstraints("acgtn", (0.4, 0.6), ("aaaa",))
    assert rules.sequence == "ACGUN" and rules.forbid == ("AAAA",)
    assert rules.needs_repair and not rules.empty
    assert DesignConstraints().empty and not DesignConstraints("NNN").needs_repair
    with pytest.raises(ConstraintError):
        DesignConstraints(gc=(0.6, 0.4))
    with pytest.raises(ConstraintError):
        DesignConstraints(forbid=("AZ",))


def test_violations_and_report():
    rules = DesignConstraints("NNGNNN", (0.4, 0.6), ("AAA", "UUU"))
    assert violations("ACGCAU", rules) == []
    assert constraint_report("ACGCAU", rules) == {"sequence": True, "gc": True, "forbid": True}
    problems = violations("AAAUUU", rules)
    assert any("sequence constraint broken at positions 3 (A not G)" in p for p in problems)
    assert any("GC content" in p for p in problems)
    assert any("AAA at positions 1" in p for p in problems)
    assert any("UUU at positions 4" in p for p in problems)
    assert constraint_report("AAAUUU", rules) == {"sequence": False, "gc": False, "forbid": False}
    assert motif_hits("GAAGAG", "GR") == [0, 3]


# ----------------------------------------------------------------------------- feasibility


def test_check_feasible_refuses_a_pair_without_base_pair_naming_both_positions():
    with pytest.raises(ConstraintError, match=r"1-6 \(A with A\)") as info:
        check_feasible("((..))", DesignConstraints("ANNNNA"), source="target t")
    assert str(info.value).startswith("target t: ")
    with pytest.raises(ConstraintError, match=r"2-5 \(C with Y\)"):
        check_feasible("((..))", DesignConstraints("NCNNYN"), gu_pairs=True)


def test_check_feasible_accepts_gu_only_with_gu_pairs():
    rules = DesignConstraints("GNNNNU")
    with pytest.raises(ConstraintError, match="1-6"):
        check_feasible("((..))", rules, gu_pairs=False)
    check_feasible("((..))", rules, gu_pairs=True)
    check_feasible("((..))", DesignConstraints("UGNNCA"), gu_pairs=True)  # UA and GC


def test_check_feasible_refuses_a_wrong_length():
    with pytest.raises(ConstraintError, match="5 codes, the target 6"):
        check_feasible("((..))", DesignConstraints("NNNNN"))


def test_check_feasible_refuses_an_unreachable_gc_range():
    with pytest.raises(ConstraintError, match="GC content"):
        check_feasible("......", DesignConstraints("AAAAAA", gc=(0.4, 0.6)))
    # Without GU, a pair adds 0 or 2 GC: 3 of 6 sites needs an unpaired G or C.
    with pytest.raises(ConstraintError, match="GC content"):
        check_feasible("(((...)))", DesignConstraints("NNNAAANNN", gc=(0.5, 0.6)))
    # 1 of 4 sites: no integer count lies in [0.3 * 4, 0.45 * 4] = [1.2, 1.8].
    with pytest.raises(ConstraintError, match="GC content"):
        check_feasible("....", DesignConstraints(gc=(0.3, 0.45)))
    check_feasible("(((...)))", DesignConstraints("NNNAGANNN", gc=(0.5, 0.6)))
    check_feasible("......", DesignConstraints("AAAAAN", gc=(0.1, 0.2)))


def test_check_feasible_refuses_a_forced_motif():
    with pytest.raises(ConstraintError, match="AAAAA at positions 3-7"):
        check_feasible(".........", DesignConstraints("NNAAAAANN", forbid=("AAAAA",)))
    with pytest.raises(ConstraintError, match="RRRR at positions 2-5"):
        check_feasible("......", DesignConstraints("NAGGAN", forbid=("RRRR",)))
    # One free site inside every occurrence: a sequence can avoid the motif.
    check_feasible(".........", DesignConstraints("NNAANAANN", forbid=("AAAAA",)))
    check_feasible("......", DesignConstraints("NAGNAN", forbid=("RRRR",)))


@pytest.mark.parametrize(
    ("structure", "rules", "gu_pairs"),
    [
        ("((..))", DesignConstraints(), False),
        ("((..))", DesignConstraints("SNNNNS"), False),
        ("((..))", DesignConstraints("KNNNNK"), True),
        ("((((....))))", DesignConstraints("NNNNGAAANNNN", (0.4, 0.6), ("AAAAA", "GGGG")), False),
        ("............", DesignConstraints(gc=(0.0, 0.0)), False),
    ],
)
def test_check_feasible_accepts_feasible_constraints(structure, rules, gu_pairs):
    check_feasible(structure, rules, gu_pairs)


def test_infeasible_target_is_refused_by_the_environments():
    target = Target("hairpin", "((..))", "ANNNNA")
    with pytest.raises(ConstraintError, match="target hairpin: .*1-6"):
        RnaDesignEnv(target, RnaDesignConfig(state_radius=2))
    with pytest.raises(ConstraintError, match="target hairpin: .*1-6"):
        RnaDesignVecEnv([target], RnaDesignConfig(state_radius=2), n_envs=2)
    with pytest.raises(ConstraintError, match="GC content"):
        RnaDesignEnv("....", RnaDesignConfig(state_radius=2), DesignConstraints(gc=(0.3, 0.45)))


def test_check_feasible_refuses_a_motif_forced_through_the_pairs():
    structure, rules = "((((....))))", DesignConstraints("NNNNNNNNCCCC", forbid=("GGGG",))
    # No sequence can meet the constraints (each opening site must be G) ...
    design = random_design(np.random.default_rng(0), structure, rules.sequence)
    assert design[:4] == "GGGG"
    # ... so check_feasible must refuse them.
    with pytest.raises(ConstraintError):
        check_feasible(structure, rules)


# ----------------------------------------------------------------------------- action masks


def test_action_masks_follow_the_iupac_codes():
    structure = "((.))."
    sites = np.array([0, 1, 2, 5])
    partners = pair_table(structure)[sites]
    masks = action_masks(structure, sites, partners, "SNRNSY", 4)
    # pair 1-5 (S with S): GC, CG; pair 2-4 (N with N): all; site 3 R: G, A; site 6 Y: U, C
    assert masks.tolist() == [
        [True, True, False, False],
        [True, True, True, True],
        [True, True, False, False],
        [False, False, True, True],
    ]
    gu = action_masks(structure, sites, partners, "KNRNNY", 6)
    # pair 1-5 (K with N): GC, UA, GU, UG; actions 4 and 5 (pairs only) masked when unpaired
    assert gu.tolist()[0] == [True, False, False, True, True, True]
    assert gu.tolist()[2] == [True, True, False, False, False, False]
    assert gu.tolist()[3] == [False, False, True, True, False, False]
    unconstrained = action_masks(structure, sites, partners, None, 6)
    assert unconstrained[:2].all() and unconstrained[2:].tolist() == [[True] * 4 + [False] * 2] * 2
    assert action_masks(structure, sites, partners, None, 4).all()


def test_masked_action_is_refused_by_the_single_env():
    env = RnaDesignEnv(Target("t", "((....))", "GNNNNNNN"), RnaDesignConfig(state_radius=2))
    env.reset(seed=0)
    assert env.action_masks().tolist() == [True, False, False, False]
    with pytest.raises(ValueError, match="position 1 breaks the sequence constraint 'G'"):
        env.step(1)
    assert env.action_masks().tolist() == [True, False, False, False]  # nothing was taken
    env.step(0)
    assert env.action_masks().all()


@pytest.mark.parametrize("gu_pairs", [False, True])
def test_single_env_episodes_under_masks_meet_the_constraint(gu_pairs):
    rng = np.random.default_rng(int(gu_pairs))
    target = Target("t", "..((((....))))..((...))..", "RNSNNKNGAANNNNYNNMNNNNNWN")
    env = RnaDesignEnv(target, RnaDesignConfig(state_radius=3, gu_pairs=gu_pairs))
    env.reset(seed=0)
    for _ in range(6):
        terminated = False
        while not terminated:
            masks = env.action_masks()
            for action in np.flatnonzero(~masks):
                refused = r"position \d+ (breaks the sequence constraint|is masked: .* unpaired)"
                with pytest.raises(ValueError, match=refused):
                    env.step(int(action))
            _, _, terminated, _, info = env.step(int(rng.choice(np.flatnonzero(masks))))
        assert meets_code(info["sequence"], target.constraint)
        assert_pairs_complementary(info["sequence"], target.structure, gu_pairs)
        env.reset()


def test_masked_action_is_refused_by_the_vec_env():
    target = Target("t", "((....))", "NNRNNNNN")
    env = RnaDesignVecEnv([target], RnaDesignConfig(state_radius=2), n_envs=3, seed=0)
    env.reset()
    assert env.masked
    env.step(np.array([0, 1, 2]))
    env.step(np.array([0, 0, 0]))
    # Third decision: site 3 is R (G or A); U and C are masked.
    assert env.action_masks().tolist() == [[True, True, False, False]] * 3
    with pytest.raises(ValueError, match="environment 1: action 2 at position 3 .* 'R'"):
        env.step(np.array([0, 2, 1]))
    assert env.action_masks().tolist() == [[True, True, False, False]] * 3
    env.step(np.array([0, 1, 1]))


# ----------------------------------------------------------------------------- property


@pytest.mark.parametrize("seed", range(12))
def test_vec_env_designs_always_meet_the_iupac_constraint(seed):
    rng = np.random.default_rng(seed)
    gu_pairs = bool(seed % 2)
    extra = DesignConstraints(gc=(0.3, 0.7), forbid=("AAAA",)) if seed % 3 == 0 else None
    targets = []
    while len(targets) < 2:
        structure = random_structure(rng, int(rng.integers(20, 41)))
        code = random_code(rng, structure, share=float(rng.uniform(0.2, 0.7)), gu_pairs=gu_pairs)
        rules = (extra or DesignConstraints()).with_sequence(code)
        try:
            check_feasible(structure, rules, gu_pairs)
        except ConstraintError:
            continue
        targets.append(Target(str(len(targets) + 1), structure, code))
    config = RnaDesignConfig(
        state_radius=4, gu_pairs=gu_pairs, local_improvement=4, local_improvement_budget=6
    )
    env = RnaDesignVecEnv(targets, config, n_envs=4, seed=seed, constraints=extra)
    assert env.masked
    by_id = {t.id: t for t in targets}
    env.reset()
    finished = []
    for _ in range(3 * max(len(t) for t in targets)):
        masks = env.action_masks()
        actions = np.array([rng.choice(np.flatnonzero(row)) for row in masks])
        _, _, dones, infos = env.step(actions)
        finished += [info for info, done in zip(infos, dones) if done]
    assert len(finished) >= 8
    for info in finished:
        target = by_id[info["target_id"]]
        sequence = info["sequence"]
        rules = (extra or DesignConstraints()).with_sequence(target.constraint)
        assert meets_code(sequence, target.constraint), (sequence, target)
        assert constraint_report(sequence, rules)["sequence"]
        assert not any("sequence constraint" in p for p in violations(sequence, rules))
        assert_pairs_complementary(sequence, target.structure, gu_pairs)
        assert info["valid"] == (not violations(sequence, rules))
        assert info["structure"] == mfe_structure(sequence)
        assert info["distance"] == hamming(info["structure"], target.structure)
        assert info["solved"] == (info["distance"] == 0 and info["valid"])


# ----------------------------------------------------------------------------- repair


@pytest.mark.parametrize("seed", range(15))
def test_repair_meets_reachable_gc_and_motif_rules(seed):
    rng = np.random.default_rng(100 + seed)
    gu_pairs = bool(seed % 2)
    structure = random_structure(rng, int(rng.integers(40, 81)))
    rules = DesignConstraints(gc=(0.4, 0.6), forbid=("AAAAA", "GGGG"))
    check_feasible(structure, rules, gu_pairs)
    sequence = random_design(rng, structure, gu_pairs=gu_pairs)
    if seed % 3 == 0:  # A-rich: too little GC, AAAAA in the loops
        sequence = "".join("A" if c == "." else b for c, b in zip(structure, sequence))
    elif seed % 3 == 1:  # G-rich: too much GC, GGGG on the stems
        sequence = "".join("C" if c == ")" else "G" for c in structure)
    repaired = repair(sequence, structure, rules, np.random.default_rng(seed), gu_pairs)
    assert len(repaired) == len(sequence)
    assert_pairs_complementary(repaired, structure, gu_pairs)
    assert violations(repaired, rules) == []
    assert 0.4 <= gc_content(repaired) <= 0.6


@pytest.mark.parametrize("seed", range(15))
def test_repair_keeps_pairs_and_the_iupac_constraint(seed):
    rng = np.random.default_rng(200 + seed)
    gu_pairs = bool(seed % 2)
    structure = random_structure(rng, int(rng.integers(40, 81)))
    code = random_code(rng, structure, share=0.4, gu_pairs=gu_pairs)
    rules = DesignConstraints(code, gc=(0.4, 0.6), forbid=("AAAA", "GGG", "UUUU"))
    sequence = random_design(rng, structure, code, gu_pairs)
    repaired = repair(sequence, structure, rules, np.random.default_rng(seed), gu_pairs)
    assert meets_code(repaired, code)
    assert_pairs_complementary(repaired, structure, gu_pairs)
    problems = violations(repaired, rules)
    assert not any("sequence constraint" in p for p in problems)


def test_repair_moves_gc_down_and_up():
    structure = "((((((....))))))"
    rules = DesignConstraints(gc=(0.4, 0.6))
    high = repair("GGGGGGGGGGCCCCCC", structure, rules, np.random.default_rng(0))
    low = repair("AAAAAAAAAAUUUUUU", structure, rules, np.random.default_rng(0))
    for repaired in (high, low):
        assert violations(repaired, rules) == []
        assert_pairs_complementary(repaired, structure, False)


def test_repair_leaves_a_satisfying_sequence_alone():
    structure = "((((....))))"
    sequence = "GACGGAAACGUC"
    rules = DesignConstraints("NNNNGAAANNNN", (0.4, 0.6), ("AAAAA", "GGGG"))
    assert violations(sequence, rules) == []
    assert repair(sequence, structure, rules, np.random.default_rng(0)) == sequence
    # No GC or motif rule: nothing to repair.
    assert (
        repair("AAAAAAAAAAAA", structure, DesignConstraints("N" * 12), np.random.default_rng(0))
        == "AAAAAAAAAAAA"
    )


def test_repair_cannot_change_fixed_sites():
    structure = "........"
    rules = DesignConstraints("GGGGGGGG", gc=(0.0, 0.5))
    assert repair("GGGGGGGG", structure, rules, np.random.default_rng(0)) == "GGGGGGGG"


# ----------------------------------------------------------------------------- local improvement

HAIRPIN = "((((((....))))))"
NEAR_MISS = "GGGGGGAAAACCCCCA"  # the outer pair is broken


def test_local_improvement_without_constraints_uses_a_gc_pair():
    # LEARNA's order reaches a GC outer pair first, so the tests below, which run both
    # orders, see the constraints at work (the ranked orders happen to pick AU here).
    folded = mfe_structure(NEAR_MISS)
    outcome = local_improvement(
        NEAR_MISS, HAIRPIN, folded, np.random.default_rng(0), 64, order="enumeration"
    )
    assert outcome.distance == 0 and outcome.sequence[-1] in "GC"


@pytest.mark.parametrize(
    "rules",
    [
        DesignConstraints("NNNNNNNNNNNNNNNW"),
        DesignConstraints(gc=(0.0, 0.69)),
        DesignConstraints(forbid=("CCCCCC",)),
        DesignConstraints("NNNNNNNNNNNNNNNM", forbid=("CCCCCC",)),
    ],
    ids=["iupac", "gc", "motif", "iupac+motif"],
)
@pytest.mark.parametrize("order", ["screened", "enumeration"])
def test_local_improvement_keeps_the_constraints(rules, order):
    assert violations(NEAR_MISS, rules) == []
    folded = mfe_structure(NEAR_MISS)
    outcome = local_improvement(
        NEAR_MISS, HAIRPIN, folded, np.random.default_rng(0), 64, constraints=rules, order=order
    )
    assert violations(outcome.sequence, rules) == []
    assert outcome.distance == 0 < hamming(folded, HAIRPIN)
    assert outcome.structure == mfe_structure(outcome.sequence) == HAIRPIN


@pytest.mark.parametrize("order", ["screened", "enumeration"])
@pytest.mark.parametrize("seed", range(10))
def test_local_improvement_never_breaks_random_constraints(seed, order):
    rng = np.random.default_rng(300 + seed)
    gu_pairs = bool(seed % 2)
    structure = random_structure(rng, int(rng.integers(20, 36)))
    design = random_design(rng, structure, gu_pairs=gu_pairs)
    folded = mfe_structure(design)
    # Constraints the design meets, but tight: two-letter codes, a narrow GC window and a
    # motif the design lacks.
    codes = {v: k for k, v in IUPAC.items()}
    code = "".join(
        codes[frozenset({b, "ACGU"[int(rng.integers(4))]})] if rng.random() < 0.6 else b
        for b in design
    )
    gc = gc_content(design)
    motif = next(m for m in ("AAA", "CCC", "GGG", "UUU", "GAG", "CUC") if m not in design)
    rules = DesignConstraints(code, (max(0.0, gc - 0.08), min(1.0, gc + 0.08)), (motif,))
    assert violations(design, rules) == []
    outcome = local_improvement(
        design, structure, folded, rng, 40, gu_pairs=gu_pairs, constraints=rules, order=order
    )
    assert violations(outcome.sequence, rules) == []
    assert_pairs_complementary(outcome.sequence, structure, gu_pairs)
    assert outcome.distance <= hamming(folded, structure)


def test_local_improvement_budget_holds_for_many_mismatched_pairs():
    structure = "((((...))))" * 8  # 32 pairs, none formed by the all-A design
    sequence = "A" * len(structure)
    folded = mfe_structure(sequence)
    outcome = local_improvement(
        sequence,
        structure,
        folded,
        np.random.default_rng(0),
        budget=10,
        deadline=time.monotonic() + 0.5,
    )
    assert outcome.folds <= 10


# ----------------------------------------------------------------------------- evaluate_design


def test_evaluate_design_repairs_and_reports_valid():
    structure = "((((((........))))))"
    sequence = "GGGGGGAAAAAAAACCCCCC"
    rules = DesignConstraints(gc=(0.3, 0.7), forbid=("AAAAA",))
    outcome = evaluate_design(sequence, structure, RnaDesignConfig(), 0, rules)
    assert outcome.valid
    assert violations(outcome.sequence, rules) == []
    assert_pairs_complementary(outcome.sequence, structure, False)
    assert outcome.structure == mfe_structure(outcome.sequence)
    assert outcome.solved == (outcome.distance == 0)


def test_evaluate_design_reports_a_design_that_cannot_be_repaired():
    structure = "((((....))))"
    sequence = "GGGGAAAACCCC"  # folds into the target
    # The constraint fixes every G: no repair reaches at most 40 % GC.
    rules = DesignConstraints("GGGGNNNNCCCC", gc=(0.0, 0.4))
    outcome = evaluate_design(sequence, structure, RnaDesignConfig(), 0, rules)
    assert not outcome.valid and not outcome.solved
    assert outcome.distance == 0 and outcome.sequence[:4] == "GGGG"
    assert meets_code(outcome.sequence, rules.sequence)


# ----------------------------------------------------------------------------- random_constraint


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 0.7, 1.0])
def test_random_constraint_fixes_a_share_of_the_unpaired_sites(fraction):
    structure = "..((((...))))....((...))..."
    unpaired = [i for i, c in enumerate(structure) if c == "."]
    code = random_constraint(structure, fraction, np.random.default_rng(7))
    assert len(code) == len(structure)
    fixed = [i for i, c in enumerate(code) if c != "N"]
    assert len(fixed) == round(fraction * len(unpaired))
    assert set(fixed) <= set(unpaired)
    assert all(code[i] in "ACGU" for i in fixed)
    check_feasible(structure, DesignConstraints(code))
    assert code == random_constraint(structure, fraction, np.random.default_rng(7))


def test_random_constraint_depends_on_the_seed_and_checks_the_fraction():
    structure = "." * 40
    codes = {random_constraint(structure, 0.5, np.random.default_rng(s)) for s in range(5)}
    assert len(codes) == 5
    for fraction in (-0.1, 1.1):
        with pytest.raises(ValueError, match="fraction"):
            random_constraint(structure, fraction, np.random.default_rng(0))


# ----------------------------------------------------------------------------- target files


def test_constraint_line_after_a_fasta_structure():
    targets = parse_target_lines([">a", "((..))", "nngatn", ">b", "(...)"], "t.txt")
    assert targets == [Target("a", "((..))", "NNGAUN"), Target("b", "(...)")]


def test_constraint_line_after_a_bare_structure_and_third_tab_column():
    lines = ["((..))", "NNGANN", "x\t(...)\tSNNNS", "....", "# comment", "", "acgu"]
    targets = parse_target_lines(lines, "t.txt")
    assert [(t.id, t.structure, t.constraint) for t in targets] == [
        ("1", "((..))", "NNGANN"),
        ("x", "(...)", "SNNNS"),
        ("3", "....", "ACGU"),
    ]


def test_second_constraint_line_is_not_taken():
    with pytest.raises(InvalidStructureError, match=r"t\.txt:3"):
        parse_target_lines(["((..))", "NNNNNN", "NNGANN"], "t.txt")
    with pytest.raises(InvalidStructureError, match=r"t\.txt:2"):
        parse_target_lines(["x\t((..))\tNNNNNN", "NNGANN"], "t.txt")


@pytest.mark.parametrize(
    ("lines", "where", "fragment"),
    [
        (["((..))", "NNGA"], "t.txt:2", "4 codes, the structure 6 sites"),
        ([">a", "((..))", "NNXANN"], "t.txt:3", "position 3: 'X'"),
        (["x\t((..))\tNNGANNN"], "t.txt:1", "7 codes"),
        (["....", "y\t((..))\tNJNNNN"], "t.txt:2", "position 2: 'J'"),
    ],
)
def test_bad_constraint_lines_are_reported_with_file_and_line(lines, where, fragment):
    with pytest.raises(InvalidStructureError) as info:
        parse_target_lines(lines, "t.txt")
    assert str(info.value).startswith(f"{where}: ")
    assert fragment in str(info.value)


def test_target_constraint_is_validated():
    assert Target("t", "(..)", "gnnc").constraint == "GNNC"
    with pytest.raises(ValueError, match="3 codes"):
        Target("t", "(..)", "NNN")
    encoding = TargetEncoding.build(Target("t", "(..)", "GNNC"), RnaDesignConfig(state_radius=1))
    assert encoding.masked and encoding.constraints.sequence == "GNNC"

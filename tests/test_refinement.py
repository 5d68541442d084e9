"""The refinement stage: an adaptive walk that never worsens a design or breaks a constraint."""

import time

import numpy as np
import pytest

from envs.constraints import IUPAC, DesignConstraints, violations
from envs.evaluation import evaluate_batch
from envs.folding import hamming, mfe_structure
from envs.refinement import refine
from envs.rna_design import RnaDesignConfig

# Two helices in a multiloop with a bulge: random GC designs of it often end a pair or two
# off, which is what the walk is for.
TARGET = ".((((...((((...((((....)))).))))....))))."


def _near_miss(rng):
    """A design of TARGET one or two pairs off (GC helices, A loops, a few random changes)."""
    from envs.dot_bracket import pair_table

    pairs = pair_table(TARGET)
    chars = []
    for i, j in enumerate(pairs):
        if j < 0:
            chars.append("A")
        elif i < j:
            chars.append("GC"[int(rng.integers(2))])
        else:
            chars.append({"G": "C", "C": "G"}[chars[j]])
    for site in rng.choice(len(TARGET), size=3, replace=False):
        chars[site] = "ACGU"[int(rng.integers(4))]
    return "".join(chars)


@pytest.mark.parametrize("seed", range(8))
def test_refine_never_returns_a_worse_design_and_keeps_constraints(seed):
    rng = np.random.default_rng(seed)
    sequence = _near_miss(rng)
    code = "".join("N" if c != "." or rng.random() > 0.3 else s for c, s in zip(TARGET, sequence))
    rules = DesignConstraints(code, gc=(0.3, 0.8), forbid=("GGGGG", "CCCCC"))
    if violations(sequence, rules):
        pytest.skip("the random start breaks the GC range or a motif")
    folded = mfe_structure(sequence)
    start = hamming(folded, TARGET)
    refined, structure, distance, folds = refine(
        sequence, TARGET, folded, np.random.default_rng(seed), 150, constraints=rules
    )
    assert distance <= start and folds <= 150
    assert structure == mfe_structure(refined) and distance == hamming(structure, TARGET)
    assert not violations(refined, rules)
    assert all(s in IUPAC[c] for s, c in zip(refined, code))


def test_refine_solves_near_misses_local_improvement_leaves():
    solved = 0
    for seed in range(10):
        sequence = _near_miss(np.random.default_rng(seed))
        folded = mfe_structure(sequence)
        if folded == TARGET:
            continue
        *_, distance, _ = refine(sequence, TARGET, folded, np.random.default_rng(seed), 300)
        solved += distance == 0
    assert solved >= 5


def test_refine_stops_at_its_deadline_and_budget():
    sequence = "A" * len(TARGET)
    folded = mfe_structure(sequence)
    start = time.monotonic()
    *_, folds = refine(
        sequence, TARGET, folded, np.random.default_rng(0), 10**6, deadline=start + 0.3
    )
    assert time.monotonic() - start < 0.3 + 0.5  # one fold of 42 nt past the deadline at most
    *_, folds = refine(sequence, TARGET, folded, np.random.default_rng(0), 7)
    assert folds <= 7


def test_refinement_is_off_in_the_published_configuration_and_on_by_budget():
    sequence = _near_miss(np.random.default_rng(3))
    jobs = [(sequence, TARGET, RnaDesignConfig(local_improvement=10), 0)]
    off = evaluate_batch(jobs)[0]
    jobs_on = [(sequence, TARGET, RnaDesignConfig(local_improvement=10, refinement_budget=300), 0)]
    on = evaluate_batch(jobs_on)[0]
    assert RnaDesignConfig().refinement_budget == 0
    assert on.distance <= off.distance and on.folds >= off.folds
    with pytest.raises(ValueError, match="refinement_budget"):
        RnaDesignConfig(refinement_budget=-1)

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
#: A sequence that folds into TARGET (GC helices, A loops).
TARGET_SOLUTION = "AGCGCAAACGCGAAAGCGCAAAAGCGCACGCGAAAAGCGCA"


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


def _near_miss_jobs(count: int, budget: int = 40) -> list[tuple]:
    """``count`` near-miss designs of TARGET with the walk on and local improvement off."""
    rng = np.random.default_rng(11)
    config = RnaDesignConfig(local_improvement=0, refinement_budget=budget)
    return [(_near_miss(rng), TARGET, config, seed) for seed in range(count)]


def test_a_batch_folded_in_pieces_gets_one_walk_as_in_one_piece():
    """A batch folded in pieces (the folding processes' way) gets the walk of a batch
    folded at once: on its closest near-miss, once, not on every piece's."""
    from envs.evaluation import refine_closest

    jobs = _near_miss_jobs(12)
    whole = evaluate_batch(jobs)
    pieces = [o for i in range(0, 12, 3) for o in evaluate_batch(jobs[i : i + 3], refine=False)]
    plain = [o.folds for o in pieces]
    assert plain == [1] * 12  # no walk inside the pieces
    assert sum(0 < o.distance <= 10 for o in pieces) >= 2  # more than one could be walked
    assert refine_closest(jobs, pieces) == whole
    walked = [i for i, o in enumerate(whole) if o.folds > 1]
    assert len(walked) == 1  # one walk for the batch
    # A skipped design (None) stays None and is never walked.
    gaps = [None if i == walked[0] else o for i, o in enumerate(pieces)]
    again = refine_closest(jobs, gaps)
    assert again[walked[0]] is None and sum(o.folds > 1 for o in again if o) == 1
    with pytest.raises(ValueError, match="12 jobs but 11 outcomes"):
        refine_closest(jobs, pieces[:11])


@pytest.mark.parametrize("improve", [0, 6])
def test_folding_processes_walk_a_batch_as_this_process_does(improve):
    """``workers=2`` folds a batch in pieces on two processes: its outcomes (local
    improvement and walk included) are those of folding it here in one piece."""
    from envs.vector import RnaDesignVecEnv

    config = RnaDesignConfig(local_improvement=improve, refinement_budget=40)
    outcomes = []
    for workers in (1, 2):
        env = RnaDesignVecEnv([TARGET], config, n_envs=16, workers=workers, seed=5)
        try:
            env.reset()
            rng = np.random.default_rng(9)
            infos: list[dict] = []
            while not infos or "distance" not in infos[0]:
                _, _, _, infos = env.step(rng.integers(4, size=env.num_envs))
            outcomes.append([(i["sequence"], i["distance"], i["folds"]) for i in infos])
        finally:
            env.close()
    assert outcomes[0] == outcomes[1]
    if not improve:
        assert sum(folds > 1 for *_, folds in outcomes[1]) == 1  # one walk, as here
    else:
        assert sum(folds > 1 for *_, folds in outcomes[1]) > 1  # improvement, then a walk


def _pooled_env():
    """An environment with two folding processes, and the ids of the units it submits."""
    from envs.vector import RnaDesignVecEnv

    env = RnaDesignVecEnv([TARGET], n_envs=2, workers=2, seed=0)
    executor = env.evaluations.executor
    submitted: list[str] = []
    submit = executor.submit
    executor.submit = lambda unit: (submitted.append(unit.id), submit(unit))[1]
    return env, submitted


def test_pieces_start_no_improvement_once_solved_or_late():
    """With ``stop_at_solution`` a batch holding a solution gets neither local
    improvement nor a walk; past the deadline no improvement or walk starts either."""

    jobs = [
        (job[0], job[1], RnaDesignConfig(local_improvement=10, refinement_budget=40), job[3])
        for job in _near_miss_jobs(6)
    ]
    plain = evaluate_batch(jobs, improve=False, refine=False)
    assert any(0 < o.distance <= 10 for o in plain)
    env, submitted = _pooled_env()
    try:
        solved = list(plain)
        solved[3] = evaluate_batch([(TARGET_SOLUTION, TARGET, jobs[3][2], 3)])[0]
        assert solved[3].solved
        env.stop_at_solution = True
        assert env._finish_pieces(jobs, list(solved)) == solved
        env.stop_at_solution, env.deadline = False, time.monotonic() - 1.0
        assert env._finish_pieces(jobs, list(plain)) == plain
        assert submitted == []  # no unit was started in either case
        env.deadline = None
        assert env._finish_pieces(jobs, list(plain)) == evaluate_batch(jobs)
        assert len(submitted) == sum(0 < o.distance <= 10 for o in plain)  # one per design
    finally:
        env.close()


def test_pieces_stop_folding_once_solved_or_late():
    """The folding processes take one piece each at a time; with ``stop_at_solution`` no
    piece starts after one holding a solution, and none starts past the deadline."""
    import functools

    config = RnaDesignConfig(local_improvement=0)
    jobs = [(TARGET_SOLUTION, TARGET, config, 0)] + [
        job[:2] + (config, job[3]) for job in _near_miss_jobs(11)
    ]
    chunks = [jobs[i : i + 2] for i in range(0, 12, 2)]
    plain = functools.partial(evaluate_batch, improve=False, refine=False)
    env, submitted = _pooled_env()
    try:
        every = env._fold_pieces(chunks, plain, None)
        assert every == evaluate_batch(jobs, improve=False, refine=False)
        assert len(submitted) == 6
        env.stop_at_solution = True
        submitted.clear()
        stopped = env._fold_pieces(chunks, plain, None)
        assert stopped[0].solved and len(submitted) <= 1 + env.workers  # not all six
        assert stopped[: 2 * len(submitted)] == every[: 2 * len(submitted)]
        assert stopped[2 * len(submitted) :] == [None] * (12 - 2 * len(submitted))
        submitted.clear()
        late = env._fold_pieces(chunks, plain, time.monotonic() - 1.0)
        assert late == [None] * 12 and submitted == []
    finally:
        env.close()


def test_a_serial_batch_folds_nothing_after_its_solution():
    """One folding process (the benchmark's): a run that wants one solution folds the
    batch's designs only up to its first solution; the rest are skipped (reward 0)."""
    from envs.vector import RnaDesignVecEnv

    config = RnaDesignConfig(local_improvement=0)
    near = [job[:2] + (config, job[3]) for job in _near_miss_jobs(5)]
    jobs = [near[0], (TARGET_SOLUTION, TARGET, config, 9), *near[1:]]
    env = RnaDesignVecEnv([TARGET], n_envs=2, workers=1, seed=0)
    try:
        for deadline in (None, time.monotonic() + 600.0):  # one piece, or pieces by the clock
            env.deadline, env.stop_at_solution, env.total_folds = deadline, True, 0
            outcomes = env._evaluate_jobs(jobs)
            assert outcomes[1].solved and outcomes[2:] == [None] * 4
            assert outcomes[0].distance > 0 and env.total_folds == 2
            env.stop_at_solution, env.total_folds = False, 0
            assert all(o is not None for o in env._evaluate_jobs(jobs)) and env.total_folds == 6
    finally:
        env.close()

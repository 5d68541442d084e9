import time

import pytest

from envs.dot_bracket import Target
from envs.folding import mfe_structure
from meta.config import LEARNA
from meta.design import design

SMALL = LEARNA.updated({"n_envs": 16})


def test_design_solves_a_short_target_and_the_design_refolds():
    target = Target("hp", "((((((....))))))")
    result = design(target, config=SMALL, time_limit=30, seed=0, device="cpu")
    assert result.solved and result.distance == 0
    assert mfe_structure(result.sequence) == target.structure == result.structure
    assert result.episodes >= 1 and result.folds >= result.episodes
    assert result.solutions == [result.sequence]


def test_num_solutions_collects_distinct_solutions():
    result = design(
        Target("hp", "((((....))))"),
        config=SMALL,
        time_limit=30,
        seed=1,
        num_solutions=3,
        device="cpu",
    )
    assert len(result.solutions) == 3 == len(set(result.solutions))
    assert all(mfe_structure(s) == "((((....))))" for s in result.solutions)


def test_time_limit_is_respected_on_an_impossible_target():
    # a hairpin loop of 2 nt cannot be an MFE structure: never solvable
    target = Target("x", "((((((((((..))))))))))")
    start = time.monotonic()
    result = design(target, config=SMALL, time_limit=3, seed=0, device="cpu")
    assert not result.solved
    assert time.monotonic() - start < 3 + 10
    assert result.sequence and mfe_structure(result.sequence) == result.structure
    assert result.distance > 0


def test_same_seed_same_design():
    target = Target("t", "..((((....))))..((((....))))")
    a = design(target, config=SMALL, time_limit=30, seed=4, device="cpu")
    b = design(target, config=SMALL, time_limit=30, seed=4, device="cpu")
    assert a.sequence == b.sequence and a.episodes == b.episodes


def test_improvement_callback_and_bad_arguments():
    seen = []
    design(
        Target("t", "((((....))))"),
        config=SMALL,
        time_limit=10,
        seed=0,
        device="cpu",
        on_improvement=lambda r: seen.append(r.distance),
    )
    assert seen and seen[-1] == 0 and seen == sorted(seen, reverse=True)
    with pytest.raises(ValueError, match="method"):
        design(Target("t", "(...)"), method="magic", time_limit=1)
    with pytest.raises(ValueError, match="time_limit"):
        design(Target("t", "(...)"), time_limit=0)


def test_agent_restarts_after_restart_timeout():
    restarts = []
    config = SMALL.updated({"restart_timeout": 0.5})
    design(
        Target("x", "((((((((((..))))))))))"),
        config=config,
        time_limit=3,
        seed=0,
        device="cpu",
        on_progress=lambda p: restarts.append(p.restarts),
    )
    assert max(restarts) >= 1


def test_a_design_run_gives_numpy_blas_one_thread_and_restores_it(blas_spy):
    """OpenBLAS's threads spin between the loop's small products on cores the folding
    processes need (session 65: the loop's own CPU per episode 3.0 against 2.0 ms)."""
    import meta.design as module

    blas_spy.watch(module, "_design_learna")
    target = Target("hp", "((((....))))")
    blas_spy.check(lambda: design(target, config=SMALL, time_limit=30, seed=0, device="cpu"))


def test_sampling_on_a_target_gives_numpy_blas_one_thread(blas_spy):
    """Meta-training's validation and the BOHB RNA task's trials sample through here."""
    import meta.design as module

    blas_spy.watch(module, "sample_designs")
    env = module.RNA_AGENT.make_env(1, 0, targets=["((((....))))"], config=SMALL)
    try:
        model = module.build_ppo(env, SMALL, 8, 0, "cpu")
    finally:
        env.close()
    target = Target("hp", "((((....))))")
    result = blas_spy.check(lambda: module.sample_on_target(model, target, SMALL, time_limit=2))
    assert result.episodes > 0

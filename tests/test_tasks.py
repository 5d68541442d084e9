from __future__ import annotations

import math

import numpy as np
import pytest

from autorl.bohb import BOHBConfig, run
from autorl.bohb.runlog import load_trials
from autorl.tasks import TASKS, make_task
from autorl.tasks.rna_learna import RnaLearnaObjective, rna_learna_task, target_parallelism
from benchmarks.synthetic import (
    HARTMANN,
    counting_ones,
    counting_ones_problem,
    counting_ones_true,
    mf_hartmann,
    mf_hartmann_problem,
)
from envs.dot_bracket import Target


def test_counting_ones_definition():
    problem = counting_ones_problem(2, 3)
    assert problem.optimum == -5 and (problem.min_budget, problem.max_budget) == (9, 729)
    best = {"c0": 1, "c1": 1, "x0": 1.0, "x1": 1.0, "x2": 1.0}
    assert counting_ones(best, 9, seed=0) == -5  # Bernoulli(1) draws are all ones
    assert problem.regret(best) == 0
    half = {"c0": 1, "c1": 0, "x0": 0.5, "x1": 0.5, "x2": 0.5}
    assert counting_ones_true(half) == -2.5
    noisy = [counting_ones(half, 729, seed) for seed in range(200)]
    assert np.mean(noisy) == pytest.approx(-2.5, abs=0.01)
    assert np.std(noisy) == pytest.approx(math.sqrt(3 * 0.25 / 729), rel=0.2)
    draws = {counting_ones(half, 9, seed) for seed in range(50)}
    assert all(abs(9 * (d + 1) - round(9 * (d + 1))) < 1e-9 for d in draws)  # 9 draws each
    with pytest.raises(ValueError):
        counting_ones(half, 0.5, seed=0)


@pytest.mark.parametrize("dims", [3, 6])
def test_mf_hartmann_definition(dims):
    problem = mf_hartmann_problem(dims)
    optimum = {f"X_{i}": v for i, v in enumerate(HARTMANN[dims][3])}
    assert problem.true_value(optimum) == pytest.approx(problem.optimum, abs=1e-4)
    assert problem.optimum == {3: -3.86278, 6: -3.32237}[dims]
    assert mf_hartmann(optimum, 100, seed=3, dims=dims) == problem.true_value(optimum)
    # z = 3: s = ln 3 / ln 100; alpha' = alpha - 0.5 (1 - s); noise |N| * 0.1 * (1 - s) >= 0.
    a, p, _, x = HARTMANN[dims]
    s = math.log(3) / math.log(100)
    alpha = np.array([1.0, 1.2, 3.0, 3.2]) - 0.5 * (1 - s)
    biased = -float(np.sum(alpha * np.exp(-np.sum(a * (np.array(x) - p) ** 2, axis=1))))
    low = [mf_hartmann(optimum, 3, seed, dims=dims) for seed in range(100)]
    assert min(low) >= biased - 1e-12
    assert np.mean(low) - biased == pytest.approx(0.1 * (1 - s) * math.sqrt(2 / math.pi), rel=0.25)
    with pytest.raises(ValueError):
        mf_hartmann(optimum, 2, 0, dims=dims)


def test_task_registry():
    assert set(TASKS) == {
        "rna-learna",
        "rna-meta-learna",
        "nas",
        "counting-ones",
        "mf-hartmann-3",
        "mf-hartmann-6",
        "cartpole",
    }
    task = make_task("counting-ones", dims=2)
    assert len(list(task.space.keys())) == 4
    assert task.budget_unit == "draws" and not task.common_random_numbers
    assert make_task("mf-hartmann-6").max_budget == 100
    with pytest.raises(ValueError, match="unknown task"):
        make_task("tetris")
    with pytest.raises(ValueError, match="counts its budget in draws"):
        make_task("counting-ones", budget_unit="episodes")


def test_naming_the_tasks_imports_none_of_them():
    import subprocess
    import sys

    code = (
        "import sys, autorl.tasks; "
        "print(any(m.startswith(('autorl.tasks.rna', 'torch', 'RNA')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_rna_learna_budget_units():
    seconds = rna_learna_task(list(TARGETS))
    assert seconds.budget_unit == "seconds per target" and "budget_unit" not in seconds.options
    episodes = rna_learna_task(list(TARGETS), unit="episodes")
    assert (episodes.min_budget, episodes.max_budget) == (100, 2700)
    assert episodes.options["budget_unit"] == "episodes"
    assert episodes.timeout(300) < seconds.timeout(300) * 10
    with pytest.raises(ValueError, match="seconds or episodes"):
        rna_learna_task(list(TARGETS), unit="draws")


def test_rna_learna_loss_breaks_ties_by_budget_used():
    objective = RnaLearnaObjective(TARGETS)
    assert objective.tie_weight == pytest.approx(0.1 / (2 * 24))
    fast = objective._used({"seconds": 1.0, "episodes": 10}, 10.0)
    slow = objective._used({"seconds": 9.0, "episodes": 10}, 10.0)
    assert fast == pytest.approx(0.1) and slow == pytest.approx(0.9)
    # The whole tie-break range is smaller than one nucleotide of the longest target.
    assert objective.tie_weight * 1.0 < 1 / (len(TARGETS) * 24)


def test_target_parallelism_follows_free_cores():
    assert target_parallelism(1, 5, cpus=2) == 2
    assert target_parallelism(2, 5, cpus=2) == 1
    assert target_parallelism(1, 1, cpus=8) == 1
    assert target_parallelism(3, 10, cpus=2) == 1


def test_synthetic_task_runs_end_to_end(tmp_path):
    task = make_task("mf-hartmann-3")
    summary = run(
        task.objective,
        task.space,
        BOHBConfig(task.min_budget, task.max_budget, seed=0),
        out_dir=tmp_path,
        iterations=4,
        workers=0,
        task=task.name,
    )
    assert summary.incumbent_budget == 100 and summary.failed == 0
    task.write_incumbent(tmp_path / "incumbent.json", summary.incumbent, {})
    assert (tmp_path / "incumbent.json").exists()


TARGETS = (
    Target("hairpin", "((((....))))"),
    Target("two", "((((...))))..((((...))))"),
)
LEARNA_CONFIG = {
    "learning_rate": 5e-4,
    "batch_size": 32,
    "entropy_coef": 1e-4,
    "reward_exponent": 5.0,
    "state_radius_relative": 0.3,
    "conv_radius_1": 2,
    "conv_channels_1": 4,
    "conv_radius_2": 0,
    "fc_layers": 1,
    "fc_units": 16,
    "lstm_layers": 0,
    "embedding_size": 2,
}


def test_rna_learna_objective_on_short_targets():
    objective = RnaLearnaObjective(TARGETS, parallel=1)
    result = objective(dict(LEARNA_CONFIG), 2.0, seed=0)
    assert 0.0 <= result.loss <= 1.0
    info = result.info
    assert set(info["targets"]) == {"hairpin", "two"}
    assert info["solved_fraction"] == sum(t["solved"] for t in info["targets"].values()) / 2
    assert result.loss == pytest.approx(
        info["mean_distance"] + objective.tie_weight * info["budget_used_fraction"]
    )
    if info["solved_fraction"] == 1.0:
        assert 0 < result.loss <= objective.tie_weight
    for entry in info["targets"].values():
        assert entry["seconds"] <= 2.0 + 5


def test_rna_learna_objective_with_an_episode_budget():
    objective = RnaLearnaObjective(TARGETS[:1], parallel=1, unit="episodes")
    result = objective(dict(LEARNA_CONFIG), 20, seed=0)
    entry = result.info["targets"]["hairpin"]
    assert entry["episodes"] <= 20
    assert 0.0 <= result.loss <= 1.0 + objective.tie_weight


@pytest.mark.slow
def test_rna_learna_objective_designs_targets_in_parallel_workers():
    from autorl.tasks import rna_learna

    objective = RnaLearnaObjective(TARGETS, parallel=2, unit="episodes")
    try:
        result = objective(dict(LEARNA_CONFIG), 10, seed=0)
        executor = rna_learna._EXECUTORS[2]  # kept for the trial worker's next trials
        assert executor.slots == executor.idle == 2
    finally:
        rna_learna._EXECUTORS.pop(2).shutdown()
    assert set(result.info["targets"]) == {"hairpin", "two"}
    assert all(t["episodes"] <= 10 for t in result.info["targets"].values())


@pytest.mark.slow
def test_rna_learna_run_with_two_workers(tmp_path):
    task = rna_learna_task(list(TARGETS), workers=2)
    summary = run(
        task.objective,
        task.space,
        BOHBConfig(1, 3, 3, seed=0),
        out_dir=tmp_path,
        iterations=1,
        workers=2,
        timeout=task.timeout,
        task=task.name,
        task_options=task.options,
    )
    records = load_trials(tmp_path)
    assert summary.trials == len(records) == 4
    assert all(r["status"] == "ok" for r in records), [r["error"] for r in records]

"""Task ``cartpole`` (autorl.tasks.cartpole): space, objective, budgets, CLI."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

import meta.episodes
from autorl.bohb.runlog import load_trials
from autorl.cli import main
from autorl.tasks import TASKS, make_task
from autorl.tasks.cartpole import (
    CAP,
    RUN_TIMESTEPS,
    CartpoleObjective,
    cartpole_space,
    cartpole_task,
    run_seeds,
    to_agent_config,
)
from meta.agents import AgentConfig
from meta.episodes import EpisodeLog

#: A configuration that cannot learn anything in a few hundred steps.
HOPELESS = {
    "units_1": 8,
    "units_2": 8,
    "batch_size": 32,
    "learning_rate": 1e-7,
    "one_minus_gamma": 0.01,
    "clip_range": 0.2,
    "entropy_coef": 1e-8,
    "n_steps": 64,
    "n_epochs": 1,
    "gae_lambda": 0.95,
}


def test_space_samples_map_to_valid_agent_configs():
    space = cartpole_space(seed=0)
    samples = [dict(c) for c in space.sample_configuration(200)]
    clamped = 0
    for config in [dict(space.get_default_configuration()), *samples]:
        agent = to_agent_config(config)
        policy, ppo = agent.policy, agent.ppo
        assert policy.hidden == [config["units_1"], config["units_2"]]
        assert (policy.activation, policy.shared, policy.recurrent) == ("tanh", False, False)
        assert ppo.n_envs == 1 and ppo.n_steps == config["n_steps"]
        assert 2 <= ppo.batch_size <= ppo.n_steps * ppo.n_envs  # SB3's rule
        assert ppo.batch_size == min(config["batch_size"], config["n_steps"])
        clamped += ppo.batch_size < config["batch_size"]
        assert 0.9 <= ppo.gamma <= 0.9999
        assert 1e-7 <= ppo.learning_rate <= 0.1 and 1 <= ppo.n_epochs <= 20
        assert AgentConfig.from_flat(json.loads(json.dumps(agent.to_flat()))) == agent
    assert clamped > 0  # the clamp is exercised by the samples
    with pytest.raises(ValueError, match="lacks the parameter 'n_epochs'"):
        to_agent_config({k: v for k, v in HOPELESS.items() if k != "n_epochs"})


def test_registry_budgets_seeding_and_timeouts():
    assert "cartpole" in TASKS
    runs = make_task("cartpole")
    assert (runs.min_budget, runs.max_budget, runs.eta) == (1, 9, 3)
    assert not runs.common_random_numbers
    assert runs.options == {"budget_unit": "runs", "cap": CAP, "run_timesteps": RUN_TIMESTEPS}
    steps = make_task("cartpole", budget_unit="timesteps")
    assert (steps.min_budget, steps.max_budget) == (20_000, 180_000)
    assert steps.common_random_numbers and steps.budget_unit == "timesteps"
    # Timeouts: generous (>= 20 s per 1000 steps) and growing with the budget.
    assert runs.timeout(9) > 3 * runs.timeout(3) - 1000 > 0
    assert runs.timeout(1) >= RUN_TIMESTEPS / 50
    assert steps.timeout(900) < steps.timeout(180_000)
    pickle.loads(pickle.dumps(runs.objective))  # trials run in worker processes
    with pytest.raises(ValueError, match="runs or timesteps"):
        make_task("cartpole", budget_unit="episodes")


def test_unlearnable_config_scores_the_cap_with_info():
    objective = CartpoleObjective("runs", run_timesteps=500)
    result = objective(HOPELESS, 2, seed=11)
    assert result.loss == CAP == 3000
    runs = result.info["runs"]
    assert [r["seed"] for r in runs] == [11, 12]
    for run in runs:
        assert run["episodes"] == CAP and not run["solved"]
        assert run["timesteps_to_threshold"] is None
        assert run["timesteps"] >= 500 and run["seconds"] > 0
        assert 5 < run["last_mean_return"] < 100
    assert result.info["timestep_limit"] == 500 and result.info["solved_fraction"] == 0
    assert result.info["flat_config"]["policy_units"] == 8
    json.dumps(result.info)  # kept in trials.jsonl


class _FakeTraining:
    """Stands in for train_episodes: seed 0 mod 2 solves at episode 30, others never."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int | None]] = []

    def __call__(self, spec, config, seed, timesteps, *, max_episodes=None, **kwargs):
        self.calls.append((seed, timesteps, max_episodes))
        if seed % 2 == 0:
            returns = [10.0] * 10 + [480.0] * 20  # mean of the last 20 reaches 475 at 30
            lengths = [10] * 10 + [480] * 20
            return EpisodeLog(returns, lengths, sum(lengths), 0.5, "threshold")
        return EpisodeLog([20.0] * 50, [20] * 50, 1000, 0.5, "timesteps")


def test_loss_is_the_mean_over_runs_and_seeds_follow_the_trial_seed(monkeypatch):
    fake = _FakeTraining()
    monkeypatch.setattr(meta.episodes, "train_episodes", fake)
    objective = CartpoleObjective("runs", run_timesteps=20_000)
    result = objective(HOPELESS, 3, seed=4)
    assert [call[0] for call in fake.calls] == [4, 5, 6]
    assert all(call[1:] == (20_000, CAP) for call in fake.calls)
    assert result.loss == pytest.approx((30 + CAP + 30) / 3)
    assert [r["episodes"] for r in result.info["runs"]] == [30, CAP, 30]
    assert result.info["runs"][0]["timesteps_to_threshold"] == 100 + 20 * 480
    assert result.info["solved_fraction"] == pytest.approx(2 / 3)
    # Same trial seed, same run seeds; the budget adds runs.
    fake.calls.clear()
    objective(HOPELESS, 3, seed=4)
    assert [call[0] for call in fake.calls] == [4, 5, 6]
    assert run_seeds(2**32 - 1, 2) == [2**32 - 1, 0]
    assert objective.plan(9.0, 1) == (list(range(1, 10)), 20_000)
    # Timesteps: one run, the budget its limit; a solve after the limit does not count.
    fake.calls.clear()
    steps = CartpoleObjective("timesteps")
    assert steps(HOPELESS, 9_700, seed=2).loss == 30
    assert fake.calls == [(2, 9_700, CAP)]
    assert steps(HOPELESS, 9_699, seed=2).loss == CAP


@pytest.mark.slow
def test_optimize_cli_writes_trials_and_a_trainable_incumbent(tmp_path: Path):
    out = tmp_path / "run"
    args = ["optimize", "--task", "cartpole", "--budget-unit", "timesteps"]
    args += ["--min-budget", "300", "--max-budget", "900", "--iterations", "1"]
    assert main([*args, "--workers", "0", "--seed", "3", "--out", str(out), "--quiet"]) == 0
    records = load_trials(out)
    assert {r["budget"] for r in records} == {300, 900}
    assert all(r["loss"] == CAP for r in records)  # nothing solves CartPole in 900 steps
    for record in records:
        assert record["info"]["timestep_limit"] == record["budget"]
    seeds: dict[tuple[int, int], set[int]] = {}
    for r in records:
        seeds.setdefault((r["bracket"], r["config_id"]), set()).add(r["seed"])
    assert all(len(s) == 1 for s in seeds.values())  # timesteps: the same run, longer
    incumbent = out / "incumbent.json"
    payload = json.loads(incumbent.read_text())
    assert payload["_meta"]["budget"] == 900 and "search_config" in payload["_meta"]
    agent = AgentConfig.load(incumbent)
    assert agent == to_agent_config(payload["_meta"]["search_config"])
    train = ["train", "--task", "cartpole", "--config", str(incumbent), "--timesteps", "64"]
    assert main([*train, "--device", "cpu", "--quiet", "--out", str(tmp_path / "train")]) == 0


def test_unknown_budget_unit_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    args = ["optimize", "--task", "cartpole", "--budget-unit", "nonsense", "--iterations", "1"]
    assert main([*args, "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "runs or timesteps" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    # The task reads no task options.
    args = ["optimize", "--task", "cartpole", "--dims", "3", "--iterations", "1"]
    assert main([*args, "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "--dims does not apply" in capsys.readouterr().err


def test_task_api_settings():
    task = cartpole_task("runs", run_timesteps=1000, cap=100)
    assert task.objective == CartpoleObjective("runs", 1000, 100)
    assert task.options["run_timesteps"] == 1000 and task.options["cap"] == 100
    with pytest.raises(ValueError, match="run_timesteps"):
        cartpole_task("runs", run_timesteps=0)
    with pytest.raises(ValueError, match="cartpole counts"):
        cartpole_task("seconds")

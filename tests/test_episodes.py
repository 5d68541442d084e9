"""meta.episodes: short in-memory PPO runs that record every training episode."""

from __future__ import annotations

import dataclasses

import pytest

from meta.agents import AgentConfig, agent_spec
from meta.episodes import train_episodes

SMALL = AgentConfig().updated({"n_steps": 64, "batch_size": 64, "n_epochs": 1})


def test_a_run_records_its_episodes_up_to_the_timestep_budget():
    log = train_episodes(agent_spec("cartpole"), SMALL, seed=0, timesteps=256)
    assert log.stopped == "timesteps" and log.timesteps == 256
    assert len(log.returns) == len(log.lengths) > 0
    assert sum(log.lengths) <= 256
    assert all(r == length for r, length in zip(log.returns, log.lengths))  # +1 per step


def test_the_same_seed_gives_the_same_episodes():
    first = train_episodes(agent_spec("cartpole"), SMALL, seed=3, timesteps=256)
    second = train_episodes(agent_spec("cartpole"), SMALL, seed=3, timesteps=256)
    assert first.returns == second.returns


def test_a_run_stops_after_max_episodes_or_at_the_threshold():
    spec = agent_spec("cartpole")
    log = train_episodes(spec, SMALL, seed=0, timesteps=10_000, max_episodes=5)
    assert log.stopped == "episodes" and len(log.returns) == 5
    easy = dataclasses.replace(spec, threshold=5.0)  # any 20 episodes average >= 5
    log = train_episodes(easy, SMALL, seed=0, timesteps=10_000, stop_at_threshold=True)
    assert log.stopped == "threshold" and len(log.returns) == 20


def test_bad_budgets_and_a_missing_threshold_are_refused():
    spec = agent_spec("cartpole")
    with pytest.raises(ValueError, match="must be >= 1"):
        train_episodes(spec, SMALL, seed=0, timesteps=0)
    with pytest.raises(ValueError, match="has no threshold"):
        train_episodes(
            dataclasses.replace(spec, threshold=None), SMALL, 0, 100, stop_at_threshold=True
        )

"""Per-site credit (``site_credit``): each decision's return gains its own site's verdict.

``envs.rna_design.site_scores`` says which decision sites fold as the target has them,
finished episodes carry ``site_credit`` times it as ``info["return_bonus"]``, and
``meta.deferred_rewards`` turns the bonus into rewards so that, with ``gamma =
gae_lambda = 1``, each step's return is the episode's reward plus its own bonus.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from envs.dot_bracket import Target
from envs.evaluation import DesignOutcome
from envs.rna_design import (
    RETURN_BONUS,
    RnaDesignConfig,
    RnaDesignEnv,
    TargetEncoding,
    finished_info,
    reward,
    site_scores,
)
from envs.vector import RnaDesignVecEnv
from meta.config import LearnaConfig
from meta.deferred_rewards import DeferredRewards, ReturnBonuses, add_return_bonus
from meta.rna_agent import RNA_AGENT

#: Seven decision sites: the pairs (0,9), (1,8) and (2,7), then the loop sites 3-6.
TARGET = "(((....)))"


def _encoding(structure: str = TARGET, radius: int = 2) -> TargetEncoding:
    return TargetEncoding.build(Target("t", structure), RnaDesignConfig(state_radius=radius))


# ------------------------------------------------------------------------- site_scores


def test_site_scores_mark_each_decision_site_folded_as_the_target_has_it():
    encoding = _encoding()
    assert encoding.sites.tolist() == [0, 1, 2, 3, 4, 5, 6]
    np.testing.assert_array_equal(site_scores(encoding, TARGET), np.ones(7))
    # Nothing pairs: the pair steps fail, the loop steps hold.
    np.testing.assert_array_equal(site_scores(encoding, ".........."), [0, 0, 0, 1, 1, 1, 1])
    # The inner pair slips from (2,7) to (2,6): site 2's partner differs and loop site 6
    # pairs (both misses); the outer pairs and the other loop sites hold.
    np.testing.assert_array_equal(site_scores(encoding, "(((...).))"), [1, 1, 0, 1, 1, 1, 0])


def test_site_scores_refuse_a_structure_of_another_length():
    with pytest.raises(ValueError, match="length 9 for target t of length 10"):
        site_scores(_encoding(), ".........")


@pytest.mark.parametrize("value", [-0.1, 10.5, True, "1", float("nan")])
def test_site_credit_is_validated(value):
    with pytest.raises(ValueError, match="site_credit"):
        RnaDesignConfig(site_credit=value)


def _outcome(structure: str) -> DesignOutcome:
    distance = sum(a != b for a, b in zip(structure, TARGET))
    return DesignOutcome("GGGAAAACCC", structure, distance, folds=1)


def test_finished_info_carries_the_bonus_only_with_site_credit():
    encoding = _encoding()
    outcome = _outcome("(((...).))")
    assert RETURN_BONUS not in finished_info(encoding, outcome, RnaDesignConfig())
    info = finished_info(encoding, outcome, RnaDesignConfig(site_credit=0.5))
    np.testing.assert_allclose(info[RETURN_BONUS], 0.5 * site_scores(encoding, "(((...).))"))
    assert info["distance"] == outcome.distance


def test_the_gym_env_ends_an_episode_with_the_bonus_of_its_design():
    config = RnaDesignConfig(state_radius=2, local_improvement=0, site_credit=0.25)
    env = RnaDesignEnv([TARGET], config)
    env.reset(seed=0)
    for action in [1, 1, 1, 1, 1, 1]:
        assert env.step(action)[2] is False
    _, value, done, _, info = env.step(1)
    assert done
    expected = 0.25 * site_scores(_encoding(), info["structure"])
    np.testing.assert_allclose(info[RETURN_BONUS], expected)
    assert value == reward(info["distance"], len(TARGET), config.reward_exponent)


# ---------------------------------------------------------------------- add_return_bonus


def _buffer(n_steps: int, n_envs: int) -> RolloutBuffer:
    buffer = RolloutBuffer(
        n_steps, spaces.Box(-1, 1, (1,)), spaces.Discrete(2), n_envs=n_envs, gamma=1.0
    )
    buffer.reset()
    return buffer


def _returns(buffer: RolloutBuffer, dones: np.ndarray) -> np.ndarray:
    """The buffer's returns with zero values and every env starting an episode at row 0."""
    buffer.values[:] = 0
    buffer.episode_starts[:] = dones
    buffer.full = True
    last = torch.zeros(buffer.n_envs)
    buffer.compute_returns_and_advantage(last_values=last, dones=np.ones(buffer.n_envs))
    return buffer.returns


def test_bonuses_raise_each_steps_return_by_its_own_bonus():
    model = SimpleNamespace(gamma=1.0, gae_lambda=1.0)
    buffer = _buffer(6, 2)
    # env 0: a 4-step episode ending at row 5 (rows 2-5) with reward 0.5 at its end;
    # env 1: a 3-step episode ending at row 1 whose first step was in an earlier rollout.
    buffer.rewards[5, 0] = 0.5
    add_return_bonus(model, buffer, 5, 0, np.array([0.1, 0.0, 0.3, 0.2]))
    buffer.rewards[1, 1] = 0.8
    add_return_bonus(model, buffer, 1, 1, np.array([0.4, 0.0, 0.1]))
    starts = np.zeros((6, 2))
    starts[2, 0] = starts[2, 1] = 1  # the episodes after the finished ones
    returns = _returns(buffer, starts)
    np.testing.assert_allclose(returns[2:, 0], [0.6, 0.5, 0.8, 0.7], atol=1e-6)
    np.testing.assert_allclose(returns[:2, 1], [0.8, 0.9], atol=1e-6)
    assert np.count_nonzero(buffer.rewards[:2, 0]) == 0  # the steps before env 0's episode
    # Env 1's first step was in the earlier rollout: nothing lands in the rows after its
    # episode (a negative row would wrap around to the end of the buffer).
    assert np.count_nonzero(buffer.rewards[2:, 1]) == 0


def test_a_bonus_for_this_step_goes_into_its_rewards_not_yet_in_the_buffer():
    model = SimpleNamespace(gamma=1.0, gae_lambda=1.0)
    buffer = _buffer(4, 1)
    terminal = np.array([1.0], dtype=np.float32)
    add_return_bonus(model, buffer, 3, 0, np.array([0.5, 0.25, 0.0, 0.25]), terminal)
    assert terminal[0] == pytest.approx(1.25)
    np.testing.assert_allclose(buffer.rewards[:, 0], [0.25, 0.25, -0.25, 0.0])


@pytest.mark.parametrize(
    ("gamma", "lam", "bonus", "match"),
    [
        (0.99, 1.0, [0.1], "gamma = gae_lambda = 1"),
        (1.0, 0.95, [0.1], "gamma = gae_lambda = 1"),
        (1.0, 1.0, [], "finite 1-D"),
        (1.0, 1.0, [np.nan], "finite 1-D"),
        (1.0, 1.0, [[0.1]], "finite 1-D"),
    ],
)
def test_add_return_bonus_refuses_what_it_cannot_serve(gamma, lam, bonus, match):
    model = SimpleNamespace(gamma=gamma, gae_lambda=lam)
    with pytest.raises(ValueError, match=match):
        add_return_bonus(model, _buffer(2, 1), 1, 0, np.array(bonus))


# ------------------------------------------------------------------- in a PPO rollout


class _Returns(BaseCallback):
    """Keeps every rollout's returns and values (computed before ``on_rollout_end``)."""

    def __init__(self):
        super().__init__()
        self.rollouts: list[tuple[np.ndarray, np.ndarray]] = []

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        self.rollouts.append((buffer.returns.copy(), buffer.values.copy()))

    def _on_step(self) -> bool:
        return True


def _train_one_rollout(deferred: bool, site_credit: float):
    """One rollout of one whole episode per env on TARGET; (returns, infos)."""
    flat = {"state_radius": 10, "local_improvement": 0, "site_credit": site_credit}
    flat |= {"n_envs": 2, "batch_size": 7}
    config = LearnaConfig.from_flat(flat)
    env = RnaDesignVecEnv([TARGET], config.env, n_envs=2, seed=3, deferred=deferred)
    model = RNA_AGENT.build_model(config, env, seed=3, n_steps=7)
    infos: list[dict] = []
    returns = _Returns()
    if deferred:
        rewards: BaseCallback = DeferredRewards(infos.append)
    else:

        class _Infos(BaseCallback):
            def _on_step(self) -> bool:
                infos.extend(i for i in self.locals["infos"] if "distance" in i)
                return True

        rewards = CallbackList([ReturnBonuses(), _Infos()])
    model.learn(28, callback=CallbackList([rewards, returns]))
    env.close()
    return returns.rollouts, infos, config


@pytest.mark.parametrize("deferred", [True, False])
def test_in_a_ppo_rollout_each_steps_return_is_the_reward_plus_its_bonus(deferred):
    rollouts, infos, config = _train_one_rollout(deferred, site_credit=0.5)
    assert len(rollouts) == 2 and len(infos) == 4
    encoding = _encoding()
    for rollout, (returns, _) in enumerate(rollouts):
        for env_index in range(2):
            info = infos[2 * rollout + env_index]
            value = reward(info["distance"], len(TARGET), config.env.reward_exponent)
            expected = value + 0.5 * site_scores(encoding, info["structure"])
            np.testing.assert_allclose(returns[:, env_index], expected, atol=1e-5)


def test_without_site_credit_every_step_returns_the_episodes_reward():
    rollouts, infos, config = _train_one_rollout(True, site_credit=0.0)
    returns, _ = rollouts[0]
    for env_index in range(2):
        value = reward(infos[env_index]["distance"], len(TARGET), config.env.reward_exponent)
        np.testing.assert_allclose(returns[:, env_index], value, atol=1e-5)


# ------------------------------------------------- the design loop and meta-training


#: A target the first few episodes of a fresh policy do not solve.
HARD = "((((((....))))))....((((((....))))))"


def _check_bonuses(seen: list[np.ndarray], structure: str, weight: float) -> None:
    encoding = _encoding(structure)
    assert seen, "no return bonus reached the rollouts"
    for bonus in seen:
        assert bonus.shape == (encoding.num_steps,)
        assert set(np.unique(bonus)) <= {0.0, weight}
    assert any(bonus.any() for bonus in seen)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_design_loop_credits_each_site(return_bonuses, workers):
    import meta.design as md

    flat = {"state_radius": 10, "site_credit": 0.5, "n_envs": 4, "batch_size": 32}
    config = LearnaConfig.from_flat(flat)
    md.design(
        Target("hard", HARD),
        method="learna",
        config=config,
        time_limit=60,
        max_episodes=12,
        workers=workers,
        local_improvement=0,
        device="cpu",
        metrics=False,
    )
    _check_bonuses(return_bonuses, HARD, 0.5)


def test_meta_training_credits_each_site(return_bonuses, tmp_path):
    from autorl.cli import main

    train = tmp_path / "train.txt"
    train.write_text(f"a\t{HARD}\nb\t{TARGET}\n")
    config = tmp_path / "credit.json"
    config.write_text('{"n_envs": 4, "batch_size": 64, "site_credit": 0.25}')
    args = ["meta-train", "--train-data", str(train), "--config", str(config)]
    args += ["--timesteps", "256", "--n-steps", "64", "--workers", "1", "--seed", "5"]
    assert main([*args, "--device", "cpu", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    lengths = {_encoding(HARD).num_steps, _encoding(TARGET).num_steps}
    bonuses = return_bonuses
    assert bonuses and {len(bonus) for bonus in bonuses} <= lengths
    assert all(set(np.unique(bonus)) <= {0.0, 0.25} for bonus in bonuses)
    assert any(bonus.any() for bonus in bonuses)

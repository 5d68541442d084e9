"""A rollout that ends with a minibatch of one step must not turn the weights into NaN.

sb3-contrib's MaskablePPO and RecurrentPPO normalize every minibatch's advantages, and a
single step has no standard deviation (``policies.minibatches``). Each test builds an
agent whose rollout is one step more than a multiple of its ``batch_size``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO, RecurrentPPO
from stable_baselines3 import PPO

from envs.dot_bracket import Target
from meta.config import LEARNA, META_LEARNA, LearnaConfig
from meta.rna_agent import RNA_AGENT
from policies.minibatches import GuardedMaskablePPO, GuardedRecurrentPPO, steps_in
from policies.vector import VectorPolicyConfig, build_agent

pytestmark = [
    pytest.mark.filterwarnings("ignore:You have specified a mini-batch size"),
    pytest.mark.usefixtures("one_thread"),
]

STRUCTURE = "((((....))))...((((....))))"  # 19 steps (8 pairs, 11 unpaired sites)
#: A sequence constraint that only fixes the last (unpaired) site: actions get masked.
CONSTRAINT = "N" * (len(STRUCTURE) - 1) + "A"
N_ENVS = 3
BATCH = 28  # 3 x 19 = 57 = 2 x 28 + 1

#: Every algorithm the RNA agent can be: (configuration, constrained, algorithm class).
FORMS = {
    "recurrent (episode LSTM)": (
        LEARNA.updated({"lstm_units": 8, "lstm_mode": "episode"}),
        False,
        RecurrentPPO,
    ),
    "masked, torch update (window LSTM)": (LEARNA.updated({"lstm_units": 8}), True, MaskablePPO),
    "masked, numpy update (no LSTM)": (META_LEARNA, True, MaskablePPO),
    "unmasked, numpy update (no LSTM)": (META_LEARNA, False, PPO),
}


def _rna_model(config: LearnaConfig, constrained: bool):
    config = config.updated({"n_envs": N_ENVS, "batch_size": BATCH})
    target = Target("t", STRUCTURE, CONSTRAINT if constrained else None)
    env = RNA_AGENT.make_env(N_ENVS, 0, targets=[target], config=config)
    steps = env.encodings[0].num_steps
    assert (N_ENVS * steps) % BATCH == 1  # the case under test
    return env, RNA_AGENT.build_model(config, env, 0, "cpu", n_steps=steps)


def _weights(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.policy.parameters()]


@pytest.mark.parametrize("form", sorted(FORMS))
def test_an_rna_update_with_a_lone_last_step_keeps_the_weights_finite(form: str):
    config, constrained, algorithm = FORMS[form]
    env, model = _rna_model(config, constrained)
    try:
        assert isinstance(model, algorithm)
        before = _weights(model)
        model.learn(model.n_steps * N_ENVS)  # one rollout, one update
        after = _weights(model)
        assert all(torch.isfinite(w).all() for w in after)
        assert any(not torch.equal(a, b) for a, b in zip(after, before))  # it did update
        model.learn(model.n_steps * N_ENVS, reset_num_timesteps=False)  # samples again
    finally:
        env.close()


@pytest.mark.parametrize("constrained", [True, False], ids=["masked", "recurrent"])
def test_the_rna_buffer_leaves_out_only_the_lone_step(constrained: bool):
    config = META_LEARNA if constrained else FORMS["recurrent (episode LSTM)"][0]
    env, model = _rna_model(config, constrained)
    try:
        assert isinstance(model, GuardedMaskablePPO if constrained else GuardedRecurrentPPO)
        model.learn(model.n_steps * N_ENVS)
        sizes = [steps_in(samples) for samples in model.rollout_buffer.get(BATCH)]
        assert sizes == [BATCH, BATCH]  # 57 steps: the 57th alone is left out
    finally:
        env.close()


def _cartpole(normalize: bool):
    config = VectorPolicyConfig(layers=1, units=8, lstm_units=4)
    kwargs = {"n_steps": 16, "batch_size": 15, "n_epochs": 2, "normalize_advantage": normalize}
    return build_agent(gym.make("CartPole-v1"), config, kwargs, seed=0, device="cpu")


def test_a_recurrent_cartpole_update_with_a_lone_last_step_keeps_the_weights_finite():
    model = _cartpole(normalize=True)  # 16 steps = 15 + 1
    assert isinstance(model, GuardedRecurrentPPO)
    before = _weights(model)
    model.learn(32)  # two rollouts and updates
    after = _weights(model)
    assert all(torch.isfinite(w).all() for w in after)
    assert any(not torch.equal(a, b) for a, b in zip(after, before))
    sizes = [steps_in(samples) for samples in model.rollout_buffer.get(15)]
    assert sizes == [15]


def test_without_advantage_normalization_the_lone_step_is_kept():
    """Only the normalization needs two steps; without it the lone step trains as usual."""
    model = _cartpole(normalize=False)
    model.learn(16)
    sizes = [steps_in(samples) for samples in model.rollout_buffer.get(15)]
    assert sizes == [15, 1]
    assert all(torch.isfinite(w).all() for w in _weights(model))


def test_steps_in_counts_real_steps_of_every_kind_of_minibatch():
    class Padded:
        mask = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0])

    class Plain:
        actions = torch.zeros(7)

    assert steps_in(Padded()) == 3  # padding is not a step
    assert steps_in(Plain()) == 7
    assert steps_in(np.arange(4)) == 4  # the numpy update's index arrays

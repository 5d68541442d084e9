from __future__ import annotations

import pytest
from ConfigSpace import Configuration, GreaterThanCondition

from autorl.bohb import BOHBConfig, Optimizer
from autorl.spaces import (
    SPACES,
    kernel_size,
    learna_space,
    make_space,
    meta_learna_space,
    state_radius,
    to_flat_config,
)
from meta.config import LEARNA, META_LEARNA


def test_published_ranges():
    space = learna_space()
    assert (space["learning_rate"].lower, space["learning_rate"].upper) == (1e-5, 1e-3)
    assert space["learning_rate"].log and space["entropy_coef"].log
    assert (space["entropy_coef"].lower, space["entropy_coef"].upper) == (1e-5, 1e-2)
    assert (space["batch_size"].lower, space["batch_size"].upper) == (32, 128)
    assert (space["conv_radius_1"].upper, space["conv_radius_2"].upper) == (8, 4)
    assert (space["fc_units"].lower, space["fc_units"].upper) == (8, 64)
    assert (space["lstm_layers"].upper, space["lstm_units"].upper) == (2, 64)
    assert (space["embedding_size"].lower, space["embedding_size"].upper) == (0, 4)
    meta = meta_learna_space()
    assert (meta["learning_rate"].lower, meta["learning_rate"].upper) == (1e-6, 1e-4)
    assert (meta["entropy_coef"].lower, meta["entropy_coef"].upper) == (5e-5, 5e-3)


@pytest.mark.parametrize("name", SPACES)
def test_real_conditions(name):
    space = make_space(name)
    conditions = {(c.child.name, c.parent.name) for c in space.conditions}
    assert conditions == {
        ("conv_channels_1", "conv_radius_1"),
        ("conv_channels_2", "conv_radius_2"),
        ("lstm_units", "lstm_layers"),
        ("lstm_mode", "lstm_layers"),
    }
    assert all(isinstance(c, GreaterThanCondition) for c in space.conditions)
    assert tuple(space["lstm_mode"].choices) == ("window", "episode")
    assert space["lstm_mode"].default_value == "window"
    for config in make_space(name, seed=0).sample_configuration(200):
        config = dict(config)
        assert ("lstm_units" in config) == (config["lstm_layers"] > 0)
        assert ("lstm_mode" in config) == (config["lstm_layers"] > 0)
        assert ("conv_channels_1" in config) == (config["conv_radius_1"] > 0)
        assert ("conv_channels_2" in config) == (config["conv_radius_2"] > 0)


@pytest.mark.parametrize("name", SPACES)
def test_every_sampled_configuration_is_a_valid_agent(name):
    for config in make_space(name, seed=1).sample_configuration(300):
        flat = to_flat_config(dict(config))
        agent = LEARNA.updated(flat)
        assert agent.env.window >= agent.policy.receptive_field
        assert agent.policy.lstm_mode == dict(config).get("lstm_mode", "window")
        assert agent.env.encoding == ("tokens" if flat["embedding_size"] else "binary")


def test_kernel_and_state_radius_mapping():
    assert [kernel_size(r) for r in (0, 1, 8)] == [0, 3, 17]
    assert state_radius(1.0, 17, 5) == 32
    assert state_radius(0.0, 17, 5) == 33  # LEARNA's range [2 * 17 - 1, 32]
    assert state_radius(0.0, 3, 0) == 5
    assert state_radius(0.0, 0, 9) == 4  # raised to cover the receptive field of 9
    assert state_radius(0.0, 0, 0) == 0
    assert state_radius(0.5, 3, 0) == 18
    with pytest.raises(ValueError):
        state_radius(1.5, 3, 0)


def test_published_learna_configuration_is_in_the_space():
    config = {
        "learning_rate": 5.99e-4,
        "batch_size": 126,
        "entropy_coef": 6.76e-5,
        "reward_exponent": 9.34,
        "state_radius_relative": 1.0,
        "conv_radius_1": 8,
        "conv_channels_1": 7,
        "conv_radius_2": 2,
        "conv_channels_2": 18,
        "fc_layers": 1,
        "fc_units": 57,
        "lstm_layers": 1,
        "lstm_units": 28,
        "lstm_mode": "window",
        "embedding_size": 3,
    }
    Configuration(learna_space(), values=config).check_valid_configuration()
    agent = LEARNA.updated(to_flat_config(config))
    assert agent.to_flat() == LEARNA.to_flat()
    # The published form of that LSTM (tensorforce's, across an episode) is in the space too.
    published = {**config, "lstm_mode": "episode"}
    Configuration(learna_space(), values=published).check_valid_configuration()
    assert LEARNA.updated(to_flat_config(published)).policy.recurrent
    # A configuration sampled before lstm_mode existed keeps the window form.
    del config["lstm_mode"]
    assert to_flat_config(config)["lstm_mode"] == "window"


def test_flat_config_omits_inactive_parameters():
    flat = to_flat_config(
        {
            "learning_rate": 1e-4,
            "batch_size": 64,
            "entropy_coef": 1e-3,
            "reward_exponent": 2.0,
            "state_radius_relative": 0.0,
            "conv_radius_1": 0,
            "conv_radius_2": 0,
            "fc_layers": 2,
            "fc_units": 16,
            "lstm_layers": 0,
            "embedding_size": 0,
        }
    )
    assert flat["conv_kernel_1"] == flat["conv_kernel_2"] == 0
    assert "conv_channels_1" not in flat and "lstm_units" not in flat
    assert flat["lstm_mode"] == "window"  # no LSTM: always the window form
    agent = META_LEARNA.updated(flat)
    assert agent.env.encoding == "binary" and agent.policy.lstm_layers == 0
    with pytest.raises(ValueError, match="lacks"):
        to_flat_config({"learning_rate": 1e-4})


def test_bohb_proposals_on_the_learna_space_are_valid_agents():
    optimizer = Optimizer(learna_space(), BOHBConfig(1, 9, 3, seed=0, random_fraction=0.0))
    for _ in range(160):
        trial = optimizer.ask()
        agent = LEARNA.updated(to_flat_config(trial.config))
        # Any deterministic loss: prefer small learning rates and no LSTM.
        loss = agent.ppo.learning_rate * 1e3 + agent.policy.lstm_layers
        optimizer.tell(trial, loss)
    assert optimizer.stats.model_based > 0

"""The policy family for vector observations (policies.vector) on CartPole."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from torch import nn

import envs
from policies.minibatches import GuardedRecurrentPPO
from policies.vector import (
    FLAT_KEYS,
    VectorPolicyConfig,
    algorithm_for,
    build_agent,
    policy_spec,
)

REPO = Path(__file__).resolve().parents[1]
ENV_IDS = ["CartPole-v1", envs.CARTPOLE_VARIANTS_ID]
FAST = {"n_steps": 64, "batch_size": 64, "n_epochs": 2}

VARIANTS = {
    "fc-separate": VectorPolicyConfig(layers=2, units=16),
    "fc-shared": VectorPolicyConfig(layers=2, units=16, shared=True, activation="relu"),
    "lstm-separate": VectorPolicyConfig(layers=1, units=16, lstm_units=8),
    "lstm-shared": VectorPolicyConfig(layers=1, units=16, lstm_units=8, shared=True),
    "fc-two-widths": VectorPolicyConfig(layers=2, units=16, units_2=8),
}


def _agent(config: VectorPolicyConfig, env_id: str = "CartPole-v1", seed: int = 0):
    return build_agent(gym.make(env_id), config, FAST, seed=seed, device="cpu")


def _shapes(module: nn.Module) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in module.parameters()]


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _rollout_actions(model, env_id: str, steps: int = 20) -> list[int]:
    """Deterministic actions along one trajectory (the LSTM state carried along)."""
    env = gym.make(env_id)
    obs, _ = env.reset(seed=123)
    state, start, actions = None, np.array([True]), []
    for _ in range(steps):
        if isinstance(model, RecurrentPPO):
            action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
        else:
            action, _ = model.predict(obs, deterministic=True)
        actions.append(int(action))
        obs, _, terminated, truncated, _ = env.step(int(action))
        start = np.array([terminated or truncated])
        if terminated or truncated:
            obs, _ = env.reset()
    return actions


# --- configuration ------------------------------------------------------------------------


def test_defaults_are_sb3_default_mlp_policy():
    config = VectorPolicyConfig()
    assert (config.layers, config.units, config.activation) == (2, 64, "tanh")
    assert (config.lstm_units, config.shared, config.ortho_init) == (0, False, True)
    assert algorithm_for(config) is PPO
    name, kwargs = policy_spec(config)
    assert name == "MlpPolicy"
    assert kwargs == {
        "activation_fn": nn.Tanh,
        "ortho_init": True,
        "net_arch": {"pi": [64, 64], "vf": [64, 64]},
    }
    ours = build_agent(gym.make("CartPole-v1"), config, seed=3, device="cpu").policy
    sb3 = PPO("MlpPolicy", gym.make("CartPole-v1"), seed=3, device="cpu").policy
    assert ours.state_dict().keys() == sb3.state_dict().keys()
    for key, value in sb3.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layers": 5}, r"layers \(policy_layers\) must be in \[0, 4\], got 5"),
        ({"layers": -1}, r"layers \(policy_layers\) must be in \[0, 4\]"),
        ({"layers": 2.0}, r"layers \(policy_layers\) must be an integer, got 2.0"),
        ({"layers": True}, r"layers \(policy_layers\) must be an integer"),
        ({"units": 0}, r"units \(policy_units\) must be in \[4, 512\], got 0"),
        ({"units": 513}, r"units \(policy_units\) must be in \[4, 512\], got 513"),
        (
            {"activation": "sigmoid"},
            r"activation \(policy_activation\) must be one of \('tanh', 'relu', 'elu'\), "
            r"got 'sigmoid'",
        ),
        ({"units_2": 2}, r"units_2 \(policy_units_2\) must be 0 or in \[4, 512\], got 2"),
        ({"units_2": 600}, r"units_2 \(policy_units_2\) must be 0 or in \[4, 512\]"),
        ({"units_2": 8.5}, r"units_2 \(policy_units_2\) must be an integer, got 8.5"),
        ({"lstm_units": 2}, r"lstm_units \(policy_lstm_units\) must be 0 or in \[4, 512\]"),
        ({"lstm_units": 1000}, r"lstm_units \(policy_lstm_units\) must be 0 or in \[4, 512\]"),
        ({"lstm_units": -8}, r"lstm_units \(policy_lstm_units\) must be 0 or in"),
        ({"shared": 1}, r"shared \(policy_shared\) must be true or false, got 1"),
        ({"ortho_init": "yes"}, r"ortho_init \(policy_ortho_init\) must be true or false"),
    ],
)
def test_invalid_values_are_refused_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VectorPolicyConfig(**kwargs)


def test_range_edges_are_valid():
    VectorPolicyConfig(layers=0, units=4, lstm_units=4, activation="elu")
    VectorPolicyConfig(layers=4, units=512, lstm_units=512, shared=True, ortho_init=False)


@pytest.mark.parametrize("config", list(VARIANTS.values()), ids=list(VARIANTS))
def test_flat_round_trip_through_json(config):
    flat = config.to_flat()
    assert tuple(flat) == FLAT_KEYS
    assert all(key.startswith("policy_") for key in flat)
    assert VectorPolicyConfig.from_flat(json.loads(json.dumps(flat))) == config


def test_from_flat_fills_defaults_and_accepts_integral_numbers():
    config = VectorPolicyConfig.from_flat(
        {"policy_units": 32.0, "policy_lstm_units": np.int64(16), "policy_activation": "relu"}
    )
    assert config == VectorPolicyConfig(units=32, lstm_units=16, activation="relu")
    assert type(config.units) is int and type(config.lstm_units) is int
    assert VectorPolicyConfig.from_flat({}) == VectorPolicyConfig()


@pytest.mark.parametrize("key", ["layers", "policy_dropout", "fc_units", "learning_rate"])
def test_from_flat_refuses_unknown_keys_naming_them(key):
    with pytest.raises(ValueError, match=rf"unknown key '{key}'; known keys: \['policy_layers'"):
        VectorPolicyConfig.from_flat({"policy_units": 8, key: 1})


def test_from_flat_refuses_bad_values_naming_the_flat_key():
    with pytest.raises(ValueError, match=r"policy_units\) must be an integer, got 32.5"):
        VectorPolicyConfig.from_flat({"policy_units": 32.5})
    with pytest.raises(ValueError, match=r"policy_shared\) must be true or false"):
        VectorPolicyConfig.from_flat({"policy_shared": "true"})


def test_second_width_defaults_to_units_and_only_changes_the_second_layer():
    assert VectorPolicyConfig().units_2 == 0 and VectorPolicyConfig().hidden == [64, 64]
    assert VectorPolicyConfig(units=32, units_2=8).hidden == [32, 8]
    assert VectorPolicyConfig(layers=3, units=32, units_2=8).hidden == [32, 8, 32]
    assert VectorPolicyConfig(layers=1, units=32, units_2=8).hidden == [32]
    assert VectorPolicyConfig(layers=0, units_2=8).hidden == []
    # A file written before the key existed reads as before; the key round-trips.
    old = {"policy_layers": 2, "policy_units": 32, "policy_activation": "relu"}
    assert VectorPolicyConfig.from_flat(old) == VectorPolicyConfig(units=32, activation="relu")
    config = VectorPolicyConfig.from_flat({"policy_units": 32, "policy_units_2": np.int64(8)})
    assert config.units_2 == 8 and type(config.units_2) is int
    assert config.to_flat()["policy_units_2"] == 8
    assert FLAT_KEYS.index("policy_units_2") == FLAT_KEYS.index("policy_units") + 1


def test_reading_a_configuration_does_not_import_torch():
    script = (
        "import sys\n"
        "from policies.vector import VectorPolicyConfig\n"
        "VectorPolicyConfig.from_flat({'policy_lstm_units': 8}).to_flat()\n"
        "print(sorted(m for m in ('torch', 'stable_baselines3', 'sb3_contrib') "
        "if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# --- mapping onto SB3 / sb3-contrib -------------------------------------------------------


def test_separate_fc_layers_are_two_networks():
    policy = _agent(VectorPolicyConfig(layers=2, units=16, shared=False)).policy
    expected = [(16, 4), (16,), (16, 16), (16,)]
    assert _shapes(policy.mlp_extractor.policy_net) == expected
    assert _shapes(policy.mlp_extractor.value_net) == expected
    assert _count(policy.features_extractor) == 0
    # the value loss does not reach the actor's layers
    policy.zero_grad()
    obs = torch.randn(5, 4)
    policy.predict_values(obs).sum().backward()
    assert all(p.grad is None for p in policy.mlp_extractor.policy_net.parameters())
    assert all(p.grad is not None for p in policy.mlp_extractor.value_net.parameters())


def test_shared_fc_layers_are_one_trunk():
    policy = _agent(VectorPolicyConfig(layers=2, units=16, shared=True)).policy
    assert policy.pi_features_extractor is policy.vf_features_extractor
    assert type(policy.features_extractor).__name__ == "SharedMlpExtractor"
    assert _shapes(policy.features_extractor) == [(16, 4), (16,), (16, 16), (16,)]
    assert _count(policy.mlp_extractor) == 0  # heads sit directly on the trunk
    assert policy.action_net.in_features == policy.value_net.in_features == 16
    # both losses train the trunk
    obs = torch.randn(5, 4)
    for output in (policy.predict_values(obs).sum(), policy.get_distribution(obs).entropy().sum()):
        policy.zero_grad()
        output.backward()
        assert all(p.grad.abs().sum() > 0 for p in policy.features_extractor.parameters())


def test_second_width_in_separate_and_shared_fc_networks():
    separate = VectorPolicyConfig(layers=2, units=16, units_2=8)
    assert policy_spec(separate)[1]["net_arch"] == {"pi": [16, 8], "vf": [16, 8]}
    policy = _agent(separate).policy
    expected = [(16, 4), (16,), (8, 16), (8,)]
    assert _shapes(policy.mlp_extractor.policy_net) == expected
    assert _shapes(policy.mlp_extractor.value_net) == expected
    assert policy.action_net.in_features == policy.value_net.in_features == 8
    shared = VectorPolicyConfig(layers=3, units=16, units_2=8, shared=True)
    kwargs = policy_spec(shared)[1]
    assert kwargs["features_extractor_kwargs"] == {"widths": [16, 8, 16], "activation": "tanh"}
    policy = _agent(shared).policy
    assert _shapes(policy.features_extractor) == [(16, 4), (16,), (8, 16), (8,), (16, 8), (16,)]
    assert policy.features_extractor.features_dim == 16
    assert policy.action_net.in_features == policy.value_net.in_features == 16


def test_second_width_in_the_lstm_variant():
    config = VectorPolicyConfig(layers=2, units=32, units_2=8, lstm_units=16)
    assert policy_spec(config)[1]["net_arch"] == {"pi": [32, 8], "vf": [32, 8]}
    policy = _agent(config).policy
    assert _shapes(policy.mlp_extractor.policy_net) == [(32, 16), (32,), (8, 32), (8,)]
    assert policy.action_net.in_features == 8


def test_shared_extractor_still_takes_the_legacy_layers_and_units():
    from policies.extractors import SharedMlpExtractor

    space = gym.make("CartPole-v1").observation_space
    legacy = SharedMlpExtractor(space, layers=2, units=16, activation="relu")
    assert _shapes(legacy) == [(16, 4), (16,), (16, 16), (16,)] and legacy.features_dim == 16
    assert _shapes(SharedMlpExtractor(space, 2, 16, "tanh")) == _shapes(legacy)
    with pytest.raises(ValueError, match="not both"):
        SharedMlpExtractor(space, layers=2, units=16, widths=[16, 16])
    with pytest.raises(ValueError, match="at least one width"):
        SharedMlpExtractor(space, widths=[])
    with pytest.raises(ValueError, match="needs widths"):
        SharedMlpExtractor(space)


def test_no_layers_gives_linear_heads_shared_or_not():
    for shared in (False, True):
        config = VectorPolicyConfig(layers=0, shared=shared)
        assert policy_spec(config)[1]["net_arch"] == {"pi": [], "vf": []}
        policy = _agent(config).policy
        assert _count(policy) == (4 * 2 + 2) + (4 * 1 + 1)


@pytest.mark.parametrize(("name", "cls"), [("tanh", nn.Tanh), ("relu", nn.ReLU), ("elu", nn.ELU)])
@pytest.mark.parametrize("variant", ["fc-separate", "fc-shared", "lstm-separate"])
def test_activation_class_is_used(name, cls, variant):
    config = dataclasses.replace(VARIANTS[variant], activation=name)
    assert policy_spec(config)[1]["activation_fn"] is cls
    policy = _agent(config).policy
    activations = [m for m in policy.modules() if isinstance(m, (nn.Tanh, nn.ReLU, nn.ELU))]
    expected = config.layers if config.shared else 2 * config.layers
    assert len(activations) == expected
    assert all(type(m) is cls for m in activations)


def test_lstm_spec_maps_shared_to_sb3_contrib_arguments():
    separate = VectorPolicyConfig(layers=2, units=32, lstm_units=24, ortho_init=False)
    name, kwargs = policy_spec(separate)
    assert algorithm_for(separate) is GuardedRecurrentPPO
    assert issubclass(GuardedRecurrentPPO, RecurrentPPO)
    assert name == "MlpLstmPolicy"
    assert kwargs == {
        "activation_fn": nn.Tanh,
        "ortho_init": False,
        "net_arch": {"pi": [32, 32], "vf": [32, 32]},
        "lstm_hidden_size": 24,
        "n_lstm_layers": 1,
        "shared_lstm": False,
        "enable_critic_lstm": True,
    }
    shared = VectorPolicyConfig(layers=2, units=32, lstm_units=24, shared=True)
    _, kwargs = policy_spec(shared)
    assert (kwargs["shared_lstm"], kwargs["enable_critic_lstm"]) == (True, False)


def test_lstm_policies_separate_and_shared():
    separate = _agent(VARIANTS["lstm-separate"]).policy
    assert isinstance(separate.lstm_actor, nn.LSTM) and isinstance(separate.lstm_critic, nn.LSTM)
    assert separate.lstm_actor.hidden_size == 8 and separate.lstm_actor.num_layers == 1
    # the FC layers follow the LSTM, separately for actor and critic
    assert _shapes(separate.mlp_extractor.policy_net) == [(16, 8), (16,)]
    assert _shapes(separate.mlp_extractor.value_net) == [(16, 8), (16,)]

    shared = _agent(VARIANTS["lstm-shared"]).policy
    assert shared.shared_lstm and shared.lstm_critic is None and shared.critic is None
    assert _count(shared) < _count(separate)
    assert _count(separate) - _count(shared) == _count(separate.lstm_critic)


@pytest.mark.parametrize("lstm_units", [0, 16])
def test_parameter_count_grows_with_units(lstm_units):
    counts = []
    for units in (8, 32, 128):
        name, kwargs = policy_spec(VectorPolicyConfig(units=units, lstm_units=lstm_units))
        algorithm = algorithm_for(VectorPolicyConfig(lstm_units=lstm_units))
        model = algorithm(name, gym.make("CartPole-v1"), policy_kwargs=kwargs, device="cpu")
        counts.append(_count(model.policy))
    assert counts == sorted(set(counts))
    # with many units the units x units weights between hidden layers dominate
    assert counts[2] > 4 * counts[1]


# --- training, saving, loading ------------------------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_learn_save_load_same_actions(variant, env_id, tmp_path):
    config = VARIANTS[variant]
    model = _agent(config, env_id)
    assert type(model) is algorithm_for(config)
    model.learn(256)
    assert model.num_timesteps >= 256
    path = tmp_path / "agent.zip"
    model.save(path)
    loaded = algorithm_for(config).load(path, device="cpu")
    for key, value in model.policy.state_dict().items():
        assert torch.equal(loaded.policy.state_dict()[key], value), key
    assert _rollout_actions(loaded, env_id) == _rollout_actions(model, env_id)


def test_lstm_state_is_carried_and_reset():
    model = _agent(VectorPolicyConfig(layers=1, units=16, lstm_units=8))
    obs = np.zeros(4, dtype=np.float32)
    _, state = model.predict(obs, episode_start=np.array([True]), deterministic=True)
    assert state[0].shape == (1, 1, 8)  # (n_lstm_layers, n_envs, lstm_units)
    _, again = model.predict(obs, state=state, episode_start=np.array([False]))
    assert not np.allclose(again[0], state[0])  # the state moves on
    _, restart = model.predict(obs, state=again, episode_start=np.array([True]))
    np.testing.assert_allclose(restart[0], state[0], rtol=1e-6)  # reset at episode_start


def test_shared_trunk_agent_loads_in_a_fresh_process(tmp_path):
    model = _agent(VARIANTS["fc-shared"])
    path = tmp_path / "agent.zip"
    model.save(path)
    obs = np.linspace(-0.2, 0.2, 4 * 8, dtype=np.float32).reshape(8, 4)
    expected = model.predict(obs, deterministic=True)[0].tolist()
    script = (
        "import sys, numpy as np\n"
        "from stable_baselines3 import PPO\n"
        f"model = PPO.load({str(path)!r}, device='cpu')\n"
        "obs = np.linspace(-0.2, 0.2, 32, dtype=np.float32).reshape(8, 4)\n"
        "print(type(model.policy.features_extractor).__module__, "
        "model.predict(obs, deterministic=True)[0].tolist())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == f"policies.extractors {expected}"


def test_build_agent_refuses_arguments_it_sets_and_missing_devices():
    with pytest.raises(ValueError, match=r"ppo_kwargs must not set \['policy_kwargs', 'seed'\]"):
        build_agent(gym.make("CartPole-v1"), VectorPolicyConfig(), {"seed": 1, "policy_kwargs": {}})
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            build_agent(gym.make("CartPole-v1"), VectorPolicyConfig(), device="cuda")

import itertools

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

from envs.rna_design import RnaDesignConfig, observation_space
from envs.vector import RnaDesignVecEnv
from policies import LearnaExtractor, PolicyConfig, policy_kwargs

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

# The published space: embedding 0..4, conv radii 0..8 / 0..4 (kernel 2r+1, 0 = none),
# LSTM 0..2 layers, FC 1..2 layers. A grid over its corners and middles.
GRID = list(itertools.product([0, 1, 4], [0, 1, 8], [0, 2, 4], [0, 1, 2], [1, 2]))


def _config(embedding, r1, r2, lstm, fc):
    return PolicyConfig(
        embedding_size=embedding,
        conv_kernel_1=2 * r1 + 1 if r1 else 0,
        conv_channels_1=32 if r1 == 8 else 1,
        conv_kernel_2=2 * r2 + 1 if r2 else 0,
        conv_channels_2=3,
        lstm_layers=lstm,
        lstm_units=64 if lstm == 2 else 1,
        fc_layers=fc,
        fc_units=8,
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("embedding", "r1", "r2", "lstm", "fc"), GRID)
def test_every_layer_combination_builds_and_runs(embedding, r1, r2, lstm, fc, device):
    config = _config(embedding, r1, r2, lstm, fc)
    # the smallest state radius the space maps to: a window of 2 * kernel - 1
    radius = max(config.receptive_field, 1)
    env_config = RnaDesignConfig(state_radius=radius, encoding="tokens" if embedding else "binary")
    space = observation_space(env_config)
    extractor = LearnaExtractor(space, config).to(device)
    batch = torch.as_tensor(np.stack([space.sample() for _ in range(5)])).float().to(device)
    features = extractor(batch)
    assert features.shape == (5, extractor.features_dim)
    assert torch.isfinite(features).all()
    if lstm:
        assert extractor.features_dim == config.lstm_units


def test_feature_sizes_follow_the_layers():
    space = observation_space(RnaDesignConfig(state_radius=10, encoding="binary"))
    conv = PolicyConfig(
        embedding_size=0,
        conv_kernel_1=5,
        conv_channels_1=4,
        conv_kernel_2=3,
        conv_channels_2=6,
        lstm_layers=0,
    )
    assert LearnaExtractor(space, conv).features_dim == (21 - 4 - 2) * 6
    plain = PolicyConfig(embedding_size=0, conv_kernel_1=0, conv_kernel_2=0, lstm_layers=0)
    assert LearnaExtractor(space, plain).features_dim == 21


def test_duplicate_windows_are_computed_once_with_the_same_result():
    space = observation_space(RnaDesignConfig(state_radius=32))
    extractor = LearnaExtractor(space, PolicyConfig())
    rows = torch.as_tensor(np.stack([space.sample() for _ in range(3)])).float()
    batch = rows[[0, 1, 0, 2, 1, 0]]
    with torch.no_grad():
        expected = torch.cat([extractor._features(row[None]) for row in batch])
        assert torch.allclose(extractor(batch), expected, atol=1e-6)


def test_window_narrower_than_the_convolutions_is_refused():
    space = observation_space(RnaDesignConfig(state_radius=2))
    with pytest.raises(ValueError, match="receptive field"):
        LearnaExtractor(space, PolicyConfig(conv_kernel_1=17))


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("conv_kernel_1", 4, "odd"),
        ("lstm_layers", 3, "lstm_layers"),
        ("fc_layers", 0, "fc_layers"),
        ("activation", "gelu", "activation"),
        ("embedding_size", -1, "embedding_size"),
        ("fc_units", 2.5, "integer"),
    ],
)
def test_policy_config_validation(field, value, match):
    with pytest.raises(ValueError, match=match):
        PolicyConfig(**{field: value})


def test_policy_kwargs_train_save_and_load(tmp_path):
    config = PolicyConfig(
        embedding_size=2,
        conv_kernel_1=3,
        conv_channels_1=4,
        conv_kernel_2=0,
        lstm_layers=1,
        lstm_units=8,
        fc_layers=2,
        fc_units=16,
    )
    env = RnaDesignVecEnv(["((((....))))"], RnaDesignConfig(state_radius=4), n_envs=8, seed=0)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=8,
        batch_size=32,
        n_epochs=1,
        policy_kwargs=policy_kwargs(config),
        seed=0,
        device="cpu",
    )
    model.learn(128)
    model.save(tmp_path / "model.zip")
    loaded = PPO.load(tmp_path / "model.zip", device="cpu")
    obs = env.reset()
    assert np.array_equal(
        model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0]
    )
    assert loaded.policy.net_arch == {"pi": [16, 16], "vf": [16, 16]}

"""SB3 features extractor for the LEARNA policy family, and PolicyConfig -> policy_kwargs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from policies.config import PolicyConfig

NUM_TOKENS = 4  # '.', '(', ')', padding (20 with the letters written: observe_letters)


class LearnaExtractor(BaseFeaturesExtractor):
    """Embedding -> Conv1d -> LSTM over the window of target symbols around the current site.

    Observations are windows of 2r+1 symbols: token codes (``embedding_size > 0``; the
    embedding has a row for every code of the observation space, 4 or, with the letters
    written so far, 20) or the binary paired/unpaired encoding. The LSTM over the window
    exists only with ``lstm_mode="window"``; with ``episode`` the extractor ends with the
    flattened convolution features, and the LSTM that follows them across the steps of an
    episode belongs to the recurrent policy (:mod:`policies.recurrent`). Identical windows in a
    batch are computed once: in LEARNA every episode on one target sees the same windows,
    so a batch of many parallel episodes holds few distinct rows.

    Args:
        observation_space: A 1-D Box of window codes.
        config: The architecture.
    """

    def __init__(self, observation_space: gym.spaces.Box, config: PolicyConfig):
        width = int(observation_space.shape[0])
        if width < config.receptive_field:
            raise ValueError(
                f"window of {width} symbols is narrower than the convolutions' receptive field "
                f"({config.receptive_field}); raise state_radius or shrink the conv kernels"
            )
        # features_dim is set after the layers are built (one no-grad forward pass).
        super().__init__(observation_space, features_dim=1)
        self.config = config
        channels = 1
        self.embedding: nn.Embedding | None = None
        if config.embedding_size:
            codes = int(observation_space.high.max()) + 1
            self.embedding = nn.Embedding(codes, config.embedding_size)
            channels = config.embedding_size
        convs: list[nn.Module] = []
        for kernel, out_channels in config.conv_layers:
            convs += [nn.Conv1d(channels, out_channels, kernel), nn.ReLU()]
            channels = out_channels
        self.convs = nn.Sequential(*convs)
        self.lstm: nn.LSTM | None = None
        if config.lstm_layers and config.lstm_mode == "window":
            self.lstm = nn.LSTM(channels, config.lstm_units, config.lstm_layers, batch_first=True)
        with torch.no_grad():
            sample = torch.as_tensor(observation_space.sample()[None]).float()
            self._features_dim = int(self._features(sample).shape[1])

    def _features(self, observations: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            x = self.embedding(observations.long()).transpose(1, 2)  # (B, E, W)
        else:
            x = observations.unsqueeze(1)  # (B, 1, W)
        x = self.convs(x)
        if self.lstm is not None:
            _, (hidden, _) = self.lstm(x.transpose(1, 2))  # (B, W', C) -> last hidden state
            return hidden[-1]
        return x.flatten(1)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """Features of a batch of windows, computing each distinct window once."""
        if observations.shape[0] <= 2:
            return self._features(observations)
        unique, inverse = torch.unique(observations, dim=0, return_inverse=True)
        if unique.shape[0] == observations.shape[0]:
            return self._features(observations)
        return self._features(unique)[inverse]


def policy_kwargs(config: PolicyConfig) -> dict[str, Any]:
    """SB3 ``policy_kwargs`` for this architecture.

    The fully connected layers are built by SB3's MLP extractor as separate policy and
    value networks of the same shape (``net_arch=dict(pi=..., vf=...)``); the features
    extractor is shared by both unless ``config.shared_extractor`` is False. With
    ``lstm_mode="episode"`` these are the keyword arguments of the recurrent policy
    (:func:`policies.recurrent.recurrent_policy_kwargs`).

    Args:
        config: The architecture.

    Returns:
        Keyword arguments for ``PPO(..., policy_kwargs=...)`` (an ``ActorCriticPolicy``),
        or for ``RecurrentPPO`` with :class:`policies.recurrent.LearnaRecurrentPolicy`.
    """
    if config.recurrent:
        from policies.recurrent import recurrent_policy_kwargs

        return recurrent_policy_kwargs(config)
    return window_policy_kwargs(config)


def window_policy_kwargs(config: PolicyConfig) -> dict[str, Any]:
    """The ``ActorCriticPolicy`` keyword arguments (also the base of the recurrent ones)."""
    layers = [config.fc_units] * config.fc_layers
    return {
        "features_extractor_class": LearnaExtractor,
        "features_extractor_kwargs": {"config": config},
        "net_arch": {"pi": list(layers), "vf": list(layers)},
        "activation_fn": nn.Tanh if config.activation == "tanh" else nn.ReLU,
        "share_features_extractor": config.shared_extractor,
    }


class SharedMlpExtractor(BaseFeaturesExtractor):
    """FC layers shared by the actor and the critic, as an SB3 features extractor.

    The vector-observation family's shared trunk (:mod:`policies.vector`): the observation
    is flattened, then passed through one linear layer per entry of ``widths``, each
    followed by the activation; the output (``widths[-1]`` features) feeds both the action
    and the value head.

    Models saved before the trunk took a list of widths stored ``layers`` and ``units``
    (``layers`` layers of ``units`` units); those arguments are still accepted, so such
    models load unchanged.

    Args:
        observation_space: The observation space (flattened like SB3's ``FlattenExtractor``).
        layers: Legacy form: number of FC layers (>= 1), with ``units``.
        units: Legacy form: units of each layer.
        activation: Activation name (see :data:`policies.vector.ACTIVATIONS`).
        widths: Units of each layer, in order (at least one); the form to use.

    Raises:
        ValueError: no layer, a width < 1, or both or neither of the two forms.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        layers: int | None = None,
        units: int | None = None,
        activation: str = "tanh",
        widths: Sequence[int] | None = None,
    ) -> None:
        from stable_baselines3.common.preprocessing import get_flattened_obs_dim

        from policies.vector import activation_class

        if widths is None:
            if layers is None or units is None:
                raise ValueError("SharedMlpExtractor needs widths (or layers and units)")
            if layers < 1:
                raise ValueError(f"SharedMlpExtractor needs layers >= 1, got {layers}")
            widths = [units] * layers
        elif layers is not None or units is not None:
            raise ValueError("SharedMlpExtractor takes widths or layers and units, not both")
        widths = [int(width) for width in widths]
        if not widths or min(widths) < 1:
            raise ValueError(f"SharedMlpExtractor needs at least one width >= 1, got {widths}")
        super().__init__(observation_space, features_dim=widths[-1])
        act = activation_class(activation)
        modules: list[nn.Module] = [nn.Flatten()]
        size = get_flattened_obs_dim(observation_space)
        for width in widths:
            modules += [nn.Linear(size, width), act()]
            size = width
        self.trunk = nn.Sequential(*modules)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """The shared features of a batch of observations."""
        return self.trunk(observations)

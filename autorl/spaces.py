"""The joint architecture + hyperparameter spaces of LEARNA and Meta-LEARNA, as published.

Runge et al. (ICLR 2019) optimized with BOHB: PPO's learning rate, batch size and entropy
regularization, the reward exponent, the state radius (relative) and the policy architecture
(two optional Conv1d layers, 1-2 fully connected layers, 0-2 LSTM layers, an optional
embedding). The LEARNA code declared every parameter unconditionally; here the
conditional ones carry real ConfigSpace conditions:

- ``conv_channels_1`` only when ``conv_radius_1 > 0`` (likewise for layer 2);
- ``lstm_units`` only when ``lstm_layers > 0``;
- ``lstm_mode`` only when ``lstm_layers > 0``: ``window`` (the LSTM runs over the positions
  of one observation window) or ``episode`` (LEARNA's form: it carries its state across the
  steps of an episode; :mod:`policies.recurrent`). This choice is ours: the published
  spaces had no such parameter, their LSTM was always tensorforce's episode-long one.

:func:`to_flat_config` turns a configuration into the flat on-disk configuration that
:meth:`meta.config.LearnaConfig.updated` (and ``autorl design --config``) accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ConfigSpace import Categorical, ConfigurationSpace, Float, GreaterThanCondition, Integer

from policies.config import LSTM_MODES

#: The largest absolute state radius reachable with ``state_radius_relative = 1``.
MAX_STATE_RADIUS = 32

SPACES = ("learna", "meta-learna")


def _space(
    name: str,
    lr: tuple[float, float],
    entropy: tuple[float, float],
    channels_log: bool,
    seed: int | None,
) -> ConfigurationSpace:
    space = ConfigurationSpace(name=name, seed=seed)
    conv_radius_1 = Integer("conv_radius_1", (0, 8), default=1)
    conv_channels_1 = Integer("conv_channels_1", (1, 32), log=channels_log, default=8)
    conv_radius_2 = Integer("conv_radius_2", (0, 4), default=0)
    conv_channels_2 = Integer("conv_channels_2", (1, 32), log=channels_log, default=8)
    lstm_layers = Integer("lstm_layers", (0, 2), default=0)
    lstm_units = Integer("lstm_units", (1, 64), log=True, default=8)
    lstm_mode = Categorical("lstm_mode", LSTM_MODES, default="window")
    space.add(
        [
            Float("learning_rate", lr, log=True),
            Integer("batch_size", (32, 128), log=True, default=64),
            Float("entropy_coef", entropy, log=True),
            Float("reward_exponent", (1.0, 10.0), default=1.0),
            Float("state_radius_relative", (0.0, 1.0), default=0.0),
            conv_radius_1,
            conv_channels_1,
            conv_radius_2,
            conv_channels_2,
            Integer("fc_layers", (1, 2), default=1),
            Integer("fc_units", (8, 64), log=True, default=32),
            lstm_layers,
            lstm_units,
            lstm_mode,
            Integer("embedding_size", (0, 4), default=1),
            GreaterThanCondition(conv_channels_1, conv_radius_1, 0),
            GreaterThanCondition(conv_channels_2, conv_radius_2, 0),
            GreaterThanCondition(lstm_units, lstm_layers, 0),
            GreaterThanCondition(lstm_mode, lstm_layers, 0),
        ]
    )
    return space


def learna_space(seed: int | None = None) -> ConfigurationSpace:
    """LEARNA's space: lr 1e-5..1e-3, entropy 1e-5..1e-2 (log), conv channels on a log scale."""
    return _space("learna", (1e-5, 1e-3), (1e-5, 1e-2), True, seed)


def meta_learna_space(seed: int | None = None) -> ConfigurationSpace:
    """Meta-LEARNA's space: lr 1e-6..1e-4, entropy 5e-5..5e-3, conv channels linear."""
    return _space("meta-learna", (1e-6, 1e-4), (5e-5, 5e-3), False, seed)


def make_space(name: str, seed: int | None = None) -> ConfigurationSpace:
    """The space called ``name`` (one of :data:`SPACES`)."""
    if name == "learna":
        return learna_space(seed)
    if name == "meta-learna":
        return meta_learna_space(seed)
    raise ValueError(f"unknown space {name!r}; choose one of {', '.join(SPACES)}")


def kernel_size(radius: int) -> int:
    """Conv kernel of radius r: 2r + 1, and 0 (no layer) for r = 0."""
    return 2 * radius + 1 if radius > 0 else 0


def state_radius(relative: float, kernel_1: int, kernel_2: int) -> int:
    """Map the relative state radius in [0, 1] to an absolute one.

    As in the LEARNA code, the range is ``[2 * kernel_1 - 1, 32]`` (so with a 17-wide first
    kernel it is [33, 32]: the radius stays near 32). The lower end is raised where needed so
    that the window ``2r + 1`` covers the convolutions' receptive field, and never below 0.
    """
    if not 0.0 <= relative <= 1.0:
        raise ValueError(f"state_radius_relative must be in [0, 1], got {relative}")
    receptive = 1 + sum(k - 1 for k in (kernel_1, kernel_2) if k > 0)
    low = max(2 * kernel_1 - 1, (receptive - 1) // 2, 0)
    return int(low + (MAX_STATE_RADIUS - low) * relative)


def to_flat_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A (Meta-)LEARNA space configuration as the flat keys of ``LearnaConfig``.

    Inactive parameters are simply absent from ``config``: a missing conv layer has kernel
    0, and without LSTM layers ``lstm_units`` keeps its default. ``lstm_mode`` is always
    set: ``window`` without LSTM layers, and also when a configuration with LSTM layers
    lacks it (one sampled before the space had the parameter).

    Raises:
        ValueError: a required parameter is missing.
    """
    try:
        kernel_1 = kernel_size(int(config["conv_radius_1"]))
        kernel_2 = kernel_size(int(config["conv_radius_2"]))
        flat: dict[str, Any] = {
            "learning_rate": float(config["learning_rate"]),
            "batch_size": int(config["batch_size"]),
            "entropy_coef": float(config["entropy_coef"]),
            "reward_exponent": float(config["reward_exponent"]),
            "state_radius": state_radius(
                float(config["state_radius_relative"]), kernel_1, kernel_2
            ),
            "conv_kernel_1": kernel_1,
            "conv_kernel_2": kernel_2,
            "fc_layers": int(config["fc_layers"]),
            "fc_units": int(config["fc_units"]),
            "lstm_layers": int(config["lstm_layers"]),
            "embedding_size": int(config["embedding_size"]),
        }
    except KeyError as missing:
        raise ValueError(f"configuration lacks the parameter {missing}") from None
    for index, kernel in ((1, kernel_1), (2, kernel_2)):
        if kernel:
            flat[f"conv_channels_{index}"] = int(config[f"conv_channels_{index}"])
    flat["lstm_mode"] = "window"
    if flat["lstm_layers"]:
        flat["lstm_units"] = int(config["lstm_units"])
        flat["lstm_mode"] = str(config.get("lstm_mode", "window"))
    return flat

"""The policy family for vector observations (CartPole and friends): FC layers and an LSTM.

:class:`VectorPolicyConfig` is to a flat ``Box`` observation what
:class:`policies.PolicyConfig` is to LEARNA's token windows: one frozen dataclass,
validated on creation, that BOHB searches and that maps onto stable-baselines3
(and sb3-contrib) policy arguments.

The family::

    FC variant   (lstm_units == 0):  obs -> FC x layers -> policy head / value head
    LSTM variant (lstm_units >  0):  obs -> LSTM(lstm_units) -> FC x layers -> heads

Every FC layer has ``units`` units, except the second, which has ``units_2`` when that is
set (> 0; the BOHB paper's CartPole space sizes its two layers separately), and all have
the same ``activation`` (``tanh``, ``relu`` or ``elu``: ``torch.nn.Tanh``, ``ReLU``,
``ELU``). :attr:`VectorPolicyConfig.hidden` is the resulting list of widths, e.g.
``[64, 32, 64]`` for ``layers=3, units=64, units_2=32``. The defaults, 2 layers x 64 tanh
units, separate actor and critic, orthogonal initialization and no LSTM, are exactly SB3's
default ``MlpPolicy`` (so the default configuration reproduces a plain
``PPO("MlpPolicy", env)``).

Mapping onto SB3 / sb3-contrib (:func:`algorithm_for`, :func:`policy_spec`):

* FC variant -> ``PPO`` with ``"MlpPolicy"``.

  - ``shared=False``: ``net_arch=dict(pi=hidden, vf=hidden)`` (``hidden = [units] *
    layers`` with ``units_2`` as the second width): two networks of the same shape, one
    for the actor and one for the critic (SB3's default).
  - ``shared=True``: one trunk of ``layers`` FC layers (the widths ``hidden``) used by
    both heads, trained by the policy and the value loss together. Since SB3 1.8
    ``MlpExtractor`` has no shared layers (``net_arch=[64, 64]`` is only a shortcut for
    ``dict(pi=[64, 64], vf=[64, 64])``, two separate networks); the trunk is therefore a
    features extractor, :class:`policies.extractors.SharedMlpExtractor` (given the widths
    ``hidden``), with ``share_features_extractor=True`` and ``net_arch=[]``: the action
    and value heads sit directly on the trunk. SB3 initializes it like its own MLP layers
    (orthogonal, gain sqrt(2), when ``ortho_init``).
  - ``layers=0``: both heads are linear in the observation; ``shared`` then changes nothing.

* LSTM variant -> sb3-contrib ``RecurrentPPO`` with ``"MlpLstmPolicy"``
  (``RecurrentActorCriticPolicy``), ``lstm_hidden_size=lstm_units``, ``n_lstm_layers=1``.
  sb3-contrib runs the LSTM on the (flattened) observation and then its ``MlpExtractor``,
  so the FC layers (the widths ``hidden``) follow the LSTM, always as separate actor and
  critic networks (``net_arch=dict(pi=hidden, vf=hidden)``). ``shared`` decides about the
  LSTM, with the two documented settings of ``RecurrentActorCriticPolicy``:

  - ``shared=False``: ``shared_lstm=False, enable_critic_lstm=True`` (sb3-contrib's
    default): the actor and the critic each have their own LSTM.
  - ``shared=True``: ``shared_lstm=True, enable_critic_lstm=False`` (sb3-contrib refuses
    ``shared_lstm`` together with ``enable_critic_lstm``): one LSTM, trained by the actor's
    loss only; the critic's FC layers read its output detached from the graph.

  ``ortho_init`` covers the FC layers and the heads; the LSTM keeps PyTorch's
  initialization (sb3-contrib does not re-initialize it).

What differs for the LSTM variant (nothing to configure here; for whoever trains it):
``RecurrentPPO`` keeps the LSTM's hidden and cell state across the steps of an episode
and resets it at ``episode_start``. Its rollout buffer stores those states with the
``n_steps`` x ``n_envs`` rollout and cuts every minibatch of ``batch_size`` consecutive
steps into per-environment sequences (split at episode starts), each replayed from the
stored state of its first step: backpropagation through time reaches back at most
``min(n_steps, batch_size)`` steps, although the stored state carries what came before.
At inference, ``model.predict(obs, state=state, episode_start=starts)`` takes and returns
that state (``state=None`` starts from zeros).

On disk a configuration is flat JSON, like the RNA agents' (``meta.config``): there every
flat key is a field name, and those names are unique across the env, policy and PPO
settings. This family's field names (``layers``, ``units``, ``activation``, ``lstm_units``
...) would be ambiguous in such a file, and ``activation`` and ``lstm_units`` would collide
with the RNA family's keys, so their flat keys carry the prefix ``policy_``
(:data:`FLAT_KEYS`: ``policy_layers``, ``policy_units``, ``policy_units_2``,
``policy_activation``, ``policy_lstm_units``, ``policy_shared``, ``policy_ortho_init``).

Importing this module does not import torch or stable-baselines3 (reading and validating a
configuration stays light); :func:`policy_spec`, :func:`algorithm_for`, :func:`build_agent`
and :class:`policies.extractors.SharedMlpExtractor` import them on first use.
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.type_aliases import GymEnv

#: Activation names and the ``torch.nn`` class each one maps to.
ACTIVATIONS: dict[str, str] = {"tanh": "Tanh", "relu": "ReLU", "elu": "ELU"}
#: Allowed number of hidden FC layers (inclusive).
LAYERS_RANGE = (0, 4)
#: Allowed units per FC layer and per LSTM (inclusive); ``units_2`` and ``lstm_units`` may
#: also be 0.
UNITS_RANGE = (4, 512)
#: Prefix of the flat (on-disk) keys.
FLAT_PREFIX = "policy_"

FC_POLICY = "MlpPolicy"
LSTM_POLICY = "MlpLstmPolicy"


@dataclass(frozen=True)
class VectorPolicyConfig:
    """Architecture of the policy and value networks for a flat vector observation.

    Attributes:
        layers: Number of hidden fully connected layers (0-4; 0 = linear heads).
        units: Units of each fully connected layer (4-512), the second one excepted when
            ``units_2`` is set.
        units_2: Units of the second fully connected layer (4-512); 0 (the default) = the
            same as ``units``. Without a second layer (``layers < 2``) it has no effect.
        activation: Activation of the fully connected layers: ``tanh``, ``relu`` or ``elu``.
        lstm_units: Hidden units of the LSTM in front of the FC layers; 0 = no LSTM (PPO),
            otherwise 4-512 (sb3-contrib RecurrentPPO, one LSTM layer).
        shared: Whether actor and critic share their hidden layers: the FC trunk without an
            LSTM, the LSTM with one (see the module docstring).
        ortho_init: SB3's orthogonal initialization of the layers and heads.
    """

    layers: int = 2
    units: int = 64
    units_2: int = 0
    activation: str = "tanh"
    lstm_units: int = 0
    shared: bool = False
    ortho_init: bool = True

    def __post_init__(self) -> None:
        _check_int("layers", self.layers, *LAYERS_RANGE)
        _check_int("units", self.units, *UNITS_RANGE)
        _check_int("units_2", self.units_2, *UNITS_RANGE, zero_allowed=True)
        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:
            raise ValueError(
                f"{_label('activation')} must be one of {tuple(ACTIVATIONS)}, "
                f"got {self.activation!r}"
            )
        _check_int("lstm_units", self.lstm_units, *UNITS_RANGE, zero_allowed=True)
        for name in ("shared", "ortho_init"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ValueError(f"{_label(name)} must be true or false, got {value!r}")

    @property
    def recurrent(self) -> bool:
        """Whether the policy has an LSTM (and is trained with RecurrentPPO)."""
        return self.lstm_units > 0

    @property
    def hidden(self) -> list[int]:
        """Widths of the hidden FC layers, in order (``units_2`` for the second if set)."""
        widths = [self.units] * self.layers
        if self.layers >= 2 and self.units_2:
            widths[1] = self.units_2
        return widths

    def to_flat(self) -> dict[str, Any]:
        """All fields as one flat dict with prefixed keys (the on-disk form)."""
        return {FLAT_PREFIX + name: value for name, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_flat(cls, mapping: Mapping[str, Any]) -> VectorPolicyConfig:
        """The configuration given by flat keys; keys left out keep the defaults.

        Integral numbers (e.g. ``64.0`` from JSON or a numpy integer from ConfigSpace) are
        accepted for the integer fields.

        Args:
            mapping: Flat keys (:data:`FLAT_KEYS`) and values.

        Returns:
            The validated configuration.

        Raises:
            ValueError: an unknown key (named, with the known ones) or an invalid value.
        """
        values: dict[str, Any] = {}
        for key, value in mapping.items():
            name = key[len(FLAT_PREFIX) :] if isinstance(key, str) else ""
            if not (isinstance(key, str) and key.startswith(FLAT_PREFIX) and name in _FIELDS):
                raise ValueError(f"unknown key {key!r}; known keys: {list(FLAT_KEYS)}")
            if _FIELDS[name] == "int":
                value = _as_int(value)
            values[name] = value
        return cls(**values)


#: Field name -> annotation (a string: ``from __future__ import annotations``).
_FIELDS: dict[str, str] = {f.name: str(f.type) for f in dataclasses.fields(VectorPolicyConfig)}
#: The flat keys of :class:`VectorPolicyConfig`, in field order.
FLAT_KEYS: tuple[str, ...] = tuple(FLAT_PREFIX + name for name in _FIELDS)


def _label(name: str) -> str:
    return f"{name} ({FLAT_PREFIX}{name})"


def _check_int(name: str, value: object, low: int, high: int, zero_allowed: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{_label(name)} must be an integer, got {value!r}")
    if not (low <= value <= high or (zero_allowed and value == 0)):
        allowed = f"0 or in [{low}, {high}]" if zero_allowed else f"in [{low}, {high}]"
        raise ValueError(f"{_label(name)} must be {allowed}, got {value}")


def _as_int(value: Any) -> Any:
    """``value`` as an ``int`` when it is an integral number (not a bool); else unchanged."""
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return int(value)
    return value


def activation_class(name: str) -> type:
    """The ``torch.nn`` activation class for an activation name (imports torch).

    Raises:
        ValueError: not one of :data:`ACTIVATIONS`.
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {name!r}")
    from torch import nn

    return getattr(nn, ACTIVATIONS[name])


def algorithm_for(config: VectorPolicyConfig) -> type:
    """The algorithm class: SB3 ``PPO``, or sb3-contrib ``RecurrentPPO`` with an LSTM.

    The recurrent one is :class:`policies.minibatches.GuardedRecurrentPPO`: a rollout that
    ends with a minibatch of one step gives no NaN update.
    """
    if config.recurrent:
        from policies.minibatches import GuardedRecurrentPPO

        return GuardedRecurrentPPO
    from stable_baselines3 import PPO

    return PPO


def policy_spec(config: VectorPolicyConfig) -> tuple[str, dict[str, Any]]:
    """The SB3 policy name and ``policy_kwargs`` for this architecture.

    Args:
        config: The architecture.

    Returns:
        ``("MlpPolicy", kwargs)`` for :class:`stable_baselines3.PPO`, or
        ``("MlpLstmPolicy", kwargs)`` for :class:`sb3_contrib.RecurrentPPO` (see
        :func:`algorithm_for`); the mapping is described in the module docstring.
    """
    hidden = config.hidden
    kwargs: dict[str, Any] = {
        "activation_fn": activation_class(config.activation),
        "ortho_init": config.ortho_init,
    }
    if config.recurrent:
        kwargs.update(
            net_arch={"pi": list(hidden), "vf": list(hidden)},
            lstm_hidden_size=config.lstm_units,
            n_lstm_layers=1,
            shared_lstm=config.shared,
            enable_critic_lstm=not config.shared,
        )
        return LSTM_POLICY, kwargs
    if config.shared and config.layers:
        from policies.extractors import SharedMlpExtractor  # torch loads on first use

        kwargs.update(
            net_arch=[],
            features_extractor_class=SharedMlpExtractor,
            features_extractor_kwargs={"widths": hidden, "activation": config.activation},
            share_features_extractor=True,
        )
    else:
        kwargs["net_arch"] = {"pi": list(hidden), "vf": list(hidden)}
    return FC_POLICY, kwargs


#: Arguments of the algorithm that :func:`build_agent` sets itself.
_RESERVED = frozenset({"policy", "env", "policy_kwargs", "seed", "device"})


def build_agent(
    env: GymEnv | str,
    config: VectorPolicyConfig,
    ppo_kwargs: Mapping[str, Any] | None = None,
    seed: int | None = None,
    device: str = "auto",
) -> BaseAlgorithm:
    """An untrained PPO or RecurrentPPO agent for ``env`` with this architecture.

    Unless ``ppo_kwargs`` asks for a ``tensorboard_log``, the agent gets a logger that
    writes nothing (SB3's default creates an empty ``SB3-<date>`` folder in the temporary
    directory for every ``learn``).

    Args:
        env: A gymnasium environment (or an SB3 VecEnv) with a vector observation.
        config: The architecture.
        ppo_kwargs: Further arguments of the algorithm (``n_steps``, ``batch_size``,
            ``learning_rate`` ...), with SB3's defaults for the ones left out.
        seed: Seed of the initialization and the sampling.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.

    Returns:
        The agent (``algorithm_for(config)``).

    Raises:
        ValueError: ``ppo_kwargs`` sets an argument this function sets (``policy``,
            ``env``, ``policy_kwargs``, ``seed``, ``device``), or a device this machine
            does not have.
    """
    from stable_baselines3.common.logger import Logger

    from policies.device import resolve_device

    ppo_kwargs = dict(ppo_kwargs or {})
    reserved = sorted(_RESERVED & set(ppo_kwargs))
    if reserved:
        raise ValueError(f"ppo_kwargs must not set {reserved}: build_agent sets them")
    resolved = resolve_device(device)
    policy, policy_kwargs = policy_spec(config)
    ppo_kwargs.setdefault("verbose", 0)
    with warnings.catch_warnings():
        # A rollout that is not a multiple of batch_size ends with a smaller minibatch: fine.
        warnings.filterwarnings("ignore", message=".*mini-batch size.*")
        model = algorithm_for(config)(
            policy,
            env,
            policy_kwargs=policy_kwargs,
            seed=seed,
            device=resolved,
            **ppo_kwargs,
        )
    if ppo_kwargs.get("tensorboard_log") is None:
        model.set_logger(Logger(folder=None, output_formats=[]))
    return model


__all__ = [
    "ACTIVATIONS",
    "FLAT_KEYS",
    "FLAT_PREFIX",
    "LAYERS_RANGE",
    "UNITS_RANGE",
    "VectorPolicyConfig",
    "activation_class",
    "algorithm_for",
    "build_agent",
    "policy_spec",
]

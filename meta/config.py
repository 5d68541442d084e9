"""One configuration for a LEARNA agent: environment, policy architecture and PPO.

On disk (``--config``, BOHB's ``incumbent.json``, checkpoints) a configuration is one flat
JSON object whose keys are the field names of :class:`envs.RnaDesignConfig`,
:class:`policies.PolicyConfig` and :class:`PPOConfig`; a file may give any subset, the
rest keep the defaults it is applied to.

How LEARNA's tensorforce PPO maps onto stable-baselines3 (deliberate choices):

- LEARNA: discount 1, no baseline, no GAE. Here: ``gamma=1`` and ``gae_lambda=1`` (Monte-Carlo
  returns), with SB3's value head kept as a baseline and advantages normalized; a baseline
  only lowers the variance of the same policy gradient.
- LEARNA's ``batch_size`` (timesteps per Adam step) is SB3's minibatch ``batch_size``, with
  ``n_epochs=1``: every sample enters exactly one gradient step, as in LEARNA's one
  optimization step per batch. SB3 collects ``n_envs`` episodes in parallel per rollout and
  then takes all its minibatch steps; likelihood-ratio clipping (0.3) keeps the later ones
  close to the collecting policy.
- LEARNA restarted its agent every ``restart_timeout`` seconds (1800); the design loop does
  the same.
- LEARNA's LSTM (tensorforce ``internal_lstm``, after the flattened convolution features)
  carried its state across the steps of an episode. Here that is ``lstm_mode="episode"``
  (sb3-contrib's RecurrentPPO, :mod:`policies.recurrent`); the default, ``"window"``, runs
  the LSTM over the positions of one observation window instead, with no memory across
  steps. The published configurations below keep the ``window`` default (see each).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envs.rna_design import RnaDesignConfig
from meta.files import write_json_atomic
from policies.config import PolicyConfig


@dataclass(frozen=True)
class PPOConfig:
    """PPO settings (stable-baselines3 names where they exist).

    Attributes:
        learning_rate: Adam step size.
        batch_size: Timesteps per gradient step (LEARNA's batch size).
        entropy_coef: Entropy regularization weight (SB3 ``ent_coef``).
        clip_range: Likelihood-ratio clipping.
        n_envs: Episodes collected in parallel per rollout.
        n_epochs: Passes over each rollout.
        vf_coef: Weight of the value loss.
        max_grad_norm: Gradient clipping.
        restart_timeout: Seconds after which the design loop restarts the agent (0 = never).
    """

    learning_rate: float = 5.99e-4
    batch_size: int = 126
    entropy_coef: float = 6.76e-5
    clip_range: float = 0.3
    n_envs: int = 64
    n_epochs: int = 1
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    restart_timeout: float = 1800.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.learning_rate) and 0 < self.learning_rate < 1):
            raise ValueError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if not 2 <= self.batch_size <= 1_000_000:
            raise ValueError(f"batch_size must be >= 2, got {self.batch_size}")
        if not 0 <= self.entropy_coef < 1:
            raise ValueError(f"entropy_coef must be in [0, 1), got {self.entropy_coef}")
        if not 0 < self.clip_range < 1:
            raise ValueError(f"clip_range must be in (0, 1), got {self.clip_range}")
        if self.n_envs < 1 or self.n_epochs < 1:
            raise ValueError("n_envs and n_epochs must be >= 1")
        if self.restart_timeout < 0:
            raise ValueError("restart_timeout must be >= 0")


_COMPONENTS = {"env": RnaDesignConfig, "policy": PolicyConfig, "ppo": PPOConfig}


@dataclass(frozen=True)
class LearnaConfig:
    """Environment, policy and PPO settings of one agent.

    The defaults are the published LEARNA final configuration (Runge et al. 2019), with
    the LSTM in the window form rather than the published episode form (see :data:`LEARNA`).
    """

    env: RnaDesignConfig = field(default_factory=RnaDesignConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)

    def __post_init__(self) -> None:
        if self.env.window < self.policy.receptive_field:
            raise ValueError(
                f"state_radius {self.env.state_radius} gives a window of {self.env.window}, "
                f"narrower than the conv layers' receptive field {self.policy.receptive_field}"
            )
        wants_tokens = self.policy.embedding_size > 0
        if wants_tokens != (self.env.encoding == "tokens"):
            raise ValueError(
                "embedding_size > 0 needs encoding 'tokens' and embedding_size 0 needs 'binary' "
                f"(got embedding_size={self.policy.embedding_size}, encoding={self.env.encoding!r})"
            )

    def to_flat(self) -> dict[str, Any]:
        """All settings as one flat dict (the on-disk form)."""
        flat: dict[str, Any] = {}
        for name in _COMPONENTS:
            flat.update(dataclasses.asdict(getattr(self, name)))
        return flat

    def updated(self, values: Mapping[str, Any], source: str = "config") -> LearnaConfig:
        """A copy with some flat keys replaced (this object is not changed).

        ``embedding_size`` also sets the matching ``encoding`` unless that is given too.

        Args:
            values: Flat keys and values.
            source: Name used in error messages.

        Raises:
            ValueError: an unknown key or an invalid value, naming the key.
        """
        values = dict(values)
        if "embedding_size" in values and "encoding" not in values:
            values["encoding"] = "tokens" if values["embedding_size"] else "binary"
        parts: dict[str, dict[str, Any]] = {name: {} for name in _COMPONENTS}
        known = {f.name: name for name, cls in _COMPONENTS.items() for f in dataclasses.fields(cls)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"{source}: unknown key {key!r}; known keys: {sorted(known)}")
            parts[known[key]][key] = _coerce(getattr(self, known[key]), key, value, source)
        try:
            return LearnaConfig(
                **{
                    name: dataclasses.replace(getattr(self, name), **parts[name])
                    for name in _COMPONENTS
                }
            )
        except (TypeError, ValueError) as error:
            raise ValueError(f"{source}: {error}") from None

    @classmethod
    def from_flat(
        cls, mapping: Mapping[str, Any], base: LearnaConfig | None = None
    ) -> LearnaConfig:
        """``base`` (default: LEARNA) with the flat keys of ``mapping`` applied.

        The inverse of :meth:`to_flat`: ``LearnaConfig.from_flat(c.to_flat()) == c``.

        Raises:
            ValueError: an unknown key or an invalid value, naming the key.
        """
        return (base or LEARNA).updated(mapping)

    @classmethod
    def load(cls, path: str | Path, base: LearnaConfig | None = None) -> LearnaConfig:
        """Read a flat JSON configuration file and apply it to ``base`` (default: LEARNA).

        Raises:
            ValueError: the file is missing, not JSON, not an object, or has a bad key/value.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"config file not found: {path}") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object of settings")
        data.pop("_meta", None)
        return (base or LEARNA).updated(data, source=str(path))

    def save(self, path: str | Path, extra: Mapping[str, Any] | None = None) -> None:
        """Write the flat JSON form (plus optional ``_meta`` information) atomically."""
        payload = self.to_flat()
        if extra:
            payload["_meta"] = dict(extra)
        write_json_atomic(payload, path)


#: The design loop's stage options (arguments of :func:`meta.design.design`, the API and
#: the CLI) and the configuration keys they override.
STAGE_OPTION_KEYS = {
    "refinement": "refinement_budget",
    "ensemble_share": "ensemble_share",
    "ensemble_starts": "ensemble_starts",
    "quick_starts": "quick_starts",
    "ensemble_rivals": "ensemble_rivals",
    "ensemble_late_share": "ensemble_late_share",
    "local_improvement": "local_improvement",
}


def with_stage_options(
    config: LearnaConfig,
    options: Mapping[str, Any],
    sources: Mapping[str, str] | None = None,
) -> LearnaConfig:
    """``config`` with the stage options given (None keeps the configuration's value).

    Args:
        config: The configuration to override.
        options: Option name (a key of :data:`STAGE_OPTION_KEYS`) to value or None.
        sources: The name each option's error message gives (default: the option's).

    Raises:
        ValueError: a value the configuration refuses, named by its source.
    """
    for name, value in options.items():
        if value is not None:
            source = (sources or {}).get(name, name)
            config = config.updated({STAGE_OPTION_KEYS[name]: value}, source=source)
    return config


def _coerce(component: Any, key: str, value: Any, source: str) -> Any:
    current = getattr(component, key)
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{source}: {key} must be true or false, got {value!r}")
        return value
    if isinstance(current, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{source}: {key} must be an integer, got {value!r}")
        return value
    if isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{source}: {key} must be a number, got {value!r}")
        return float(value)
    if not isinstance(value, type(current)):
        raise ValueError(f"{source}: {key} must be a {type(current).__name__}, got {value!r}")
    return value


#: LEARNA's published final configuration (ICLR 2019, Table 4), with one difference in
#: form: published LEARNA had one LSTM layer of 28 units in tensorforce's episode form
#: (``internal_lstm``: state carried across the steps of an episode); this configuration
#: keeps ``lstm_mode="window"`` (the same layer run over the positions of one observation
#: window, no memory across steps). ``LEARNA.updated({"lstm_mode": "episode"})`` is the
#: published form; which one is the default is decided by measurement. Local improvement
#: folds its candidates ranked by evaluation-only energies and only while one can still be
#: a solution (``local_improvement_order="screened"``); the published code enumerated them
#: in turn (``"enumeration"``).
LEARNA = LearnaConfig()

#: Meta-LEARNA's published final configuration. It has no LSTM (``lstm_layers=0``), so the
#: episode/window question does not arise: its form is the published one
#: (``lstm_mode="window"`` without an LSTM is embedding -> Conv1d -> flatten -> FC).
META_LEARNA = LEARNA.updated(
    {
        "batch_size": 123,
        "conv_kernel_1": 11,
        "conv_channels_1": 10,
        "conv_kernel_2": 3,
        "conv_channels_2": 3,
        "embedding_size": 2,
        "learning_rate": 6.44e-5,
        "entropy_coef": 1.51e-4,
        "lstm_layers": 0,
        "fc_layers": 1,
        "fc_units": 52,
        "reward_exponent": 8.93,
        "state_radius": 29,
    },
    source="META_LEARNA",
)

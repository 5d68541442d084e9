"""The NAS controller: its configuration (flat JSON) and the MaskablePPO model built from it.

Zoph & Le (2017) trained an LSTM controller with REINFORCE; NASNet (Zoph et al. 2018)
used PPO, as we do: sb3-contrib's ``MaskablePPO`` (a decision with fewer choices than the
action space masks the rest) with :class:`policies.controller.TokenLstmExtractor` (an LSTM
over the tokens emitted so far) and linear actor and critic heads on the shared LSTM.

One rollout is ``episodes_per_update`` complete architectures (Zoph & Le's batch of child
networks); their trainings run in parallel on the executor and the update waits for all.
The reward comes at the end of an episode only, so ``gamma = 1`` and ``gae_lambda = 1``
(the defaults) make every decision's return the child's reward and its advantage that
reward minus the critic's estimate (the critic plays Zoph & Le's moving-average baseline).

Keys of the flat JSON (``autorl nas search --config``; a file may give any subset):

=====================  ========  ======================================================
key                    default   meaning
=====================  ========  ======================================================
lstm_units             64        LSTM hidden size (the features of both heads)
lstm_layers            1         stacked LSTM layers
embedding_size         16        token and slot embedding size
learning_rate          0.003     Adam step size
episodes_per_update    10        architectures per rollout (``n_steps = this x T``)
minibatches            1         minibatches per epoch (``batch_size = n_steps / this``)
n_epochs               4         passes over each rollout
clip_range             0.2       likelihood-ratio clipping
entropy_coef           0.001     entropy bonus weight (SB3 ``ent_coef``)
vf_coef                0.5       value loss weight
gamma                  1.0       discount
gae_lambda             1.0       GAE lambda
max_grad_norm          0.5       gradient clipping
reward_power           1.0       reward = validation accuracy ** this (Zoph & Le: 3)
=====================  ========  ======================================================
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meta.agents import _check_int, _check_number

_INTS = ("lstm_units", "lstm_layers", "embedding_size", "episodes_per_update", "minibatches")


@dataclass(frozen=True)
class ControllerConfig:
    """The controller's architecture and PPO settings (see the module docstring).

    Raises:
        ValueError: a value out of range; the message names the key.
    """

    lstm_units: int = 64
    lstm_layers: int = 1
    embedding_size: int = 16
    learning_rate: float = 3e-3
    episodes_per_update: int = 10
    minibatches: int = 1
    n_epochs: int = 4
    clip_range: float = 0.2
    entropy_coef: float = 1e-3
    vf_coef: float = 0.5
    gamma: float = 1.0
    gae_lambda: float = 1.0
    max_grad_norm: float = 0.5
    reward_power: float = 1.0

    def __post_init__(self) -> None:
        for name in (*_INTS, "n_epochs"):
            _check_int(name, getattr(self, name), 1)
        _check_number("learning_rate", self.learning_rate, 0, 1, low_open=True, high_open=True)
        _check_number("clip_range", self.clip_range, 0, 1, low_open=True, high_open=True)
        _check_number("entropy_coef", self.entropy_coef, 0, 1, high_open=True)
        _check_number("vf_coef", self.vf_coef, 0, math.inf)
        _check_number("gamma", self.gamma, 0, 1)
        _check_number("gae_lambda", self.gae_lambda, 0, 1)
        _check_number("max_grad_norm", self.max_grad_norm, 0, math.inf, low_open=True)
        _check_number("reward_power", self.reward_power, 0, 10, low_open=True)
        for field in dataclasses.fields(self):
            if field.type == "float":
                object.__setattr__(self, field.name, float(getattr(self, field.name)))

    def to_flat(self) -> dict[str, Any]:
        """The configuration as flat keys (the field names)."""
        return dataclasses.asdict(self)

    def updated(self, mapping: Mapping[str, Any]) -> ControllerConfig:
        """This configuration with the keys of ``mapping`` replaced.

        Keys starting with ``_`` (e.g. an incumbent's ``_meta``) are ignored.

        Raises:
            ValueError: an unknown key or a bad value.
        """
        values = {key: value for key, value in mapping.items() if not str(key).startswith("_")}
        unknown = sorted(set(values) - set(FLAT_KEYS))
        if unknown:
            names = ", ".join(f"'{key}'" for key in unknown)
            raise ValueError(
                f"unknown key{'s' if len(unknown) > 1 else ''} {names} in a controller "
                f"config; known: {', '.join(FLAT_KEYS)}"
            )
        for key in _INTS + ("n_epochs",):
            if isinstance(values.get(key), float) and values[key].is_integer():
                values[key] = int(values[key])
        return dataclasses.replace(self, **values)

    @classmethod
    def from_flat(
        cls, mapping: Mapping[str, Any], base: ControllerConfig | None = None
    ) -> ControllerConfig:
        """``base`` (default: the defaults) with the flat keys of ``mapping`` applied.

        Raises:
            ValueError: an unknown key or a bad value.
        """
        return (base or cls()).updated(mapping)

    @classmethod
    def load(cls, path: str | Path, base: ControllerConfig | None = None) -> ControllerConfig:
        """Read a flat JSON file (any subset of the keys; the rest keep ``base``'s values).

        Raises:
            ValueError: a missing or unreadable file, not a JSON object, or a bad key or
                value; the message names the file.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except OSError as error:
            reason = error.strerror
            raise ValueError(f"{path}: cannot read the controller config ({reason})") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{error.lineno}: not JSON ({error.msg})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a controller config is a JSON object")
        try:
            return cls.from_flat(data, base)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None


#: Every flat key, in field order.
FLAT_KEYS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(ControllerConfig))


def build_controller(config: ControllerConfig, venv: Any, seed: int, device: str = "cpu") -> Any:
    """A ``MaskablePPO`` controller for NAS episodes (:class:`envs.nas_vec.NasVecEnv`).

    It is :class:`policies.minibatches.GuardedMaskablePPO`: ``minibatches`` that leave a
    last minibatch of one step give no NaN update.

    Args:
        config: The controller configuration.
        venv: The vectorized NAS environments (their decisions fix the rollout length).
        seed: Seeds the policy's initialization and sampling.
        device: Where the controller runs (it is small: the CPU is the right place).
    """
    from stable_baselines3.common.logger import Logger

    from policies.controller import TokenLstmExtractor
    from policies.minibatches import GuardedMaskablePPO

    steps = int(venv.observation_space.shape[0]) - 1
    n_steps = config.episodes_per_update * steps
    policy_kwargs = {
        "features_extractor_class": TokenLstmExtractor,
        "features_extractor_kwargs": {
            "n_codes": int(venv.action_space.n) + 1,
            "embedding_size": config.embedding_size,
            "lstm_units": config.lstm_units,
            "lstm_layers": config.lstm_layers,
        },
        "net_arch": {"pi": [], "vf": []},
    }
    model = GuardedMaskablePPO(
        "MlpPolicy",
        venv,
        n_steps=n_steps,
        batch_size=max(2, n_steps * venv.num_envs // config.minibatches),
        n_epochs=config.n_epochs,
        learning_rate=config.learning_rate,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        clip_range=config.clip_range,
        ent_coef=config.entropy_coef,
        vf_coef=config.vf_coef,
        max_grad_norm=config.max_grad_norm,
        policy_kwargs=policy_kwargs,
        seed=seed,
        device=device,
        verbose=0,
    )
    # SB3's default logger makes an empty folder in the temp directory at every learn().
    model.set_logger(Logger(folder=None, output_formats=[]))
    return model


@dataclass(frozen=True)
class NasAgentSpec:
    """The agent spec (:class:`meta.agents.DomainSpec`) of NAS: the controller and its env.

    Attributes:
        name: ``nas``.
        summary: One line for help texts.
        config_type: :class:`ControllerConfig`.
        default: The default controller.
        threshold: None: a search has no return that counts as solved.
    """

    name: str = "nas"
    summary: str = "NAS as an MDP: a Zoph & Le LSTM controller trained with MaskablePPO"
    config_type: type[ControllerConfig] = ControllerConfig
    default: ControllerConfig = ControllerConfig()
    threshold: float | None = None

    def make_env(
        self,
        n_envs: int,
        seed: int,
        evaluator: Any,
        *,
        layers: int | None = None,
        strides: tuple[int, ...] = (1,),
        skips: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Seeded :class:`envs.nas_vec.NasVecEnv` of ``n_envs`` NAS episodes.

        Args:
            n_envs: Episodes stepped at a time.
            seed: Seeds the environments.
            evaluator: The :class:`envs.nas_children.ChildEvaluator` (its dataset is the
                environments').
            layers: Layers per child (None: :data:`envs.nas_space.DEFAULT_LAYERS`).
            strides: Stride choices.
            skips: Skip connections.
            **kwargs: :class:`envs.nas_vec.NasVecEnv`'s options (executor, cache, budget,
                seen, on_evaluation, gpus, timeout).
        """
        from envs.nas_mdp import NasMdpEnv
        from envs.nas_space import DEFAULT_LAYERS
        from envs.nas_vec import NasVecEnv

        def make() -> NasMdpEnv:
            depth = DEFAULT_LAYERS if layers is None else layers
            return NasMdpEnv(evaluator.dataset, depth, strides, skips, evaluator=None)

        venv = NasVecEnv([make] * n_envs, evaluator, **kwargs)
        venv.seed(seed)
        return venv

    def build_model(
        self,
        config: ControllerConfig,
        env: Any,
        seed: int,
        device: str = "cpu",
        tensorboard_log: str | None = None,
    ) -> Any:
        """The untrained MaskablePPO controller (:func:`build_controller`)."""
        model = build_controller(config, env, seed, "cpu" if device == "auto" else device)
        if tensorboard_log is not None:
            model.tensorboard_log = tensorboard_log
        return model


#: The NAS domain's spec (``meta.agents.domain_spec("nas")``).
NAS_AGENT = NasAgentSpec()


__all__ = ["FLAT_KEYS", "NAS_AGENT", "ControllerConfig", "NasAgentSpec", "build_controller"]
